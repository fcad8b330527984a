namespace InsideLLMs.Distributed.Contracts.Rlhf;

/// <summary>A ranking sent over the bus was refused, and why; nothing was stored.</summary>
public sealed record RankingRejected(string TaskId, string Annotator, string Reason);
