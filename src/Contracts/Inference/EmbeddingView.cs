namespace InsideLLMs.Distributed.Contracts.Inference;

/// <param name="CategoryPurity">Share of lexicon tokens whose nearest neighbour (cosine) is in the same group; null without a lexicon.</param>
[GenerateSerializer, Immutable, Alias("EmbeddingView")]
public sealed record EmbeddingView(
    [property: Id(0)] IReadOnlyList<EmbeddingPointInfo> Points,
    [property: Id(1)] double ExplainedVariance,
    [property: Id(2)] double? CategoryPurity,
    [property: Id(3)] long Step);
