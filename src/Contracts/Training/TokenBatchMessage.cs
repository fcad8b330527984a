namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>One micro-batch of token IDs, (B, T) row-major int64 as bytes.</summary>
[GenerateSerializer, Immutable, Alias("TokenBatchMessage")]
public sealed record TokenBatchMessage(
    [property: Id(0)] byte[] Inputs,
    [property: Id(1)] byte[] Targets,
    [property: Id(2)] int BatchSize,
    [property: Id(3)] int BlockSize)
{
    /// <summary>Scored targets of the whole step's global batch (SFT normalises by it); 0 for pre-training and validation.</summary>
    [Id(4)] public long StepTargetCount { get; init; }

    /// <summary>A PPO update's per-token rollout data for the last stage (old log-probabilities, advantages, old values, returns); null otherwise.</summary>
    [Id(5)] public Rlhf.PpoTokensMessage? Ppo { get; init; }
}
