namespace InsideLLMs.Distributed.Contracts.Rlhf;

/// <summary>
/// What an acknowledged ranking is stored as, and what its annotator gets back. A resubmission of the same task by the
/// same annotator returns the first receipt, marked <see cref="Duplicate"/>, and changes nothing.
/// </summary>
/// <param name="Order">The completions' indices, best first.</param>
/// <param name="Simulated">Ranked by a simulated annotator (the corpus's preference rule), not a person.</param>
/// <param name="Sequence">1 for the task's first ranking, 2 for its second, ...</param>
[GenerateSerializer, Immutable, Alias("RankingReceipt")]
public sealed record RankingReceipt(
    [property: Id(0)] string ReceiptId,
    [property: Id(1)] string TaskId,
    [property: Id(2)] string Annotator,
    [property: Id(3)] IReadOnlyList<int> Order,
    [property: Id(4)] bool Simulated,
    [property: Id(5)] DateTimeOffset AcceptedAt,
    [property: Id(6)] int Sequence,
    [property: Id(7)] bool Duplicate);
