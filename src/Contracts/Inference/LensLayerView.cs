namespace InsideLLMs.Distributed.Contracts.Inference;

[GenerateSerializer, Immutable, Alias("LensLayerView")]
public sealed record LensLayerView([property: Id(0)] int Layer, [property: Id(1)] IReadOnlyList<TokenAlternative> Top);
