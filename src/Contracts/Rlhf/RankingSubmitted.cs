namespace InsideLLMs.Distributed.Contracts.Rlhf;

/// <summary>A ranking was stored (published once per stored ranking, never for a resubmission).</summary>
public sealed record RankingSubmitted(string ReceiptId, string TaskId, string Annotator, int[] Order, bool Simulated, DateTimeOffset AcceptedAt);
