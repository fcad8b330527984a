namespace InsideLLMs.Distributed.Contracts.Inference;

[GenerateSerializer, Immutable, Alias("NeighbourInfo")]
public sealed record NeighbourInfo(
    [property: Id(0)] int ModelId,
    [property: Id(1)] string Text,
    [property: Id(2)] double Cosine,
    [property: Id(3)] string? Category);
