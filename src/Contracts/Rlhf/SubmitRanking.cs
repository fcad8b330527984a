namespace InsideLLMs.Distributed.Contracts.Rlhf;

/// <summary>
/// A ranking sent over the bus rather than to a grain: it waits in a durable queue while no silo is up, and a silo's
/// consumer stores it when one is. Resending the same annotator's ranking of a task stores nothing more.
/// </summary>
public sealed record SubmitRanking(string TaskId, string Annotator, int[] Order, bool Simulated);
