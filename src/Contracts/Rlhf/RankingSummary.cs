namespace InsideLLMs.Distributed.Contracts.Rlhf;

/// <summary>The rankings collected on the cluster, counted from the tasks' stored rankings (each exactly once).</summary>
/// <param name="Agreement">Mean over the tasks ranked by two or more annotators of their pairwise agreement; null if none.</param>
[GenerateSerializer, Immutable, Alias("RankingSummary")]
public sealed record RankingSummary(
    [property: Id(0)] int Tasks,
    [property: Id(1)] int OpenTasks,
    [property: Id(2)] long Rankings,
    [property: Id(3)] long Simulated,
    [property: Id(4)] int TasksRankedBySeveral,
    [property: Id(5)] double? Agreement);
