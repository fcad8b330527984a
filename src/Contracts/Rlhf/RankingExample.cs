namespace InsideLLMs.Distributed.Contracts.Rlhf;

/// <summary>One stored ranking as a reward model trains on it: its receipt's id, the task's prompt and completions, the annotator's order.</summary>
[GenerateSerializer, Immutable, Alias("RankingExample")]
public sealed record RankingExample(
    [property: Id(0)] string ReceiptId,
    [property: Id(1)] string Prompt,
    [property: Id(2)] IReadOnlyList<string> Completions,
    [property: Id(3)] IReadOnlyList<int> Order,
    [property: Id(4)] bool Simulated);
