namespace InsideLLMs.Distributed.Contracts.Rlhf;

/// <summary>A task with what its annotators did: how many ranked it and how far they agree.</summary>
/// <param name="Agreement">Mean pairwise agreement between its annotators' orders; null with fewer than two.</param>
[GenerateSerializer, Immutable, Alias("RankingTaskView")]
public sealed record RankingTaskView(
    [property: Id(0)] RankingTaskInfo Task,
    [property: Id(1)] int Rankings,
    [property: Id(2)] int Simulated,
    [property: Id(3)] double? Agreement,
    [property: Id(4)] bool Expired);
