namespace InsideLLMs.Distributed.Maths.Data;

/// <summary>A batch of windows as model IDs, row-major (B, T); targets are the inputs shifted left by one.</summary>
/// <remarks>Targets equal to <see cref="IgnoreIndex"/> are padding and must not count in the loss.</remarks>
public sealed record TokenBatch(long[] Inputs, long[] Targets, int BatchSize, int BlockSize)
{
    /// <summary>The target that cross-entropy skips (PyTorch's and TorchSharp's default ignore_index).</summary>
    public const long IgnoreIndex = -100;

    /// <summary>
    /// Targets the loss is measured over in the whole step's global batch (every micro-batch of every replica), for
    /// objectives that average per token across micro-batches (SFT); 0 when the batch does not belong to a step.
    /// </summary>
    public long StepTargetCount { get; init; }

    /// <summary>Number of targets the loss is measured over.</summary>
    public int TargetCount => Targets.Count(t => t != IgnoreIndex);
}
