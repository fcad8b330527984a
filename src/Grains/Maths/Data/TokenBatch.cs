namespace InsideLLMs.Distributed.Maths.Data;

/// <summary>A batch of windows as model IDs, row-major (B, T); targets are the inputs shifted left by one.</summary>
/// <remarks>Targets equal to <see cref="IgnoreIndex"/> are padding and must not count in the loss.</remarks>
public sealed record TokenBatch(long[] Inputs, long[] Targets, int BatchSize, int BlockSize)
{
    /// <summary>The target that cross-entropy skips (PyTorch's and TorchSharp's default ignore_index).</summary>
    public const long IgnoreIndex = -100;

    /// <summary>Number of targets the loss is measured over.</summary>
    public int TargetCount => Targets.Count(t => t != IgnoreIndex);
}
