namespace InsideLLMs.Distributed.Contracts.Inference;

/// <param name="Category">The synthetic lexicon's category ("animal", "place", ...).</param>
/// <param name="Group">The walkthrough's group (animals, places, verbs, emotions, names, objects, colours); null for other words.</param>
[GenerateSerializer, Immutable, Alias("EmbeddingPointInfo")]
public sealed record EmbeddingPointInfo(
    [property: Id(0)] int ModelId,
    [property: Id(1)] string Text,
    [property: Id(2)] string Category,
    [property: Id(3)] string? Group,
    [property: Id(4)] float X,
    [property: Id(5)] float Y);
