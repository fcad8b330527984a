namespace InsideLLMs.Distributed.Contracts.Rlhf;

/// <summary>
/// A ranking task: a prompt and K completions sampled from a model version, to be put in order by annotators.
/// </summary>
/// <param name="Id">The task's id, its grain key.</param>
/// <param name="Version">The model version the completions were sampled from (the current policy).</param>
/// <param name="ExpiresAt">After this, rankings of the task are refused.</param>
[GenerateSerializer, Immutable, Alias("RankingTaskInfo")]
public sealed record RankingTaskInfo(
    [property: Id(0)] string Id,
    [property: Id(1)] string Prompt,
    [property: Id(2)] IReadOnlyList<string> Completions,
    [property: Id(3)] string Version,
    [property: Id(4)] DateTimeOffset CreatedAt,
    [property: Id(5)] DateTimeOffset ExpiresAt);
