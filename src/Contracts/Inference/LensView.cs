namespace InsideLLMs.Distributed.Contracts.Inference;

/// <summary>The logit lens at one position: per layer, the top tokens the model would predict if it stopped there.</summary>
[GenerateSerializer, Immutable, Alias("LensView")]
public sealed record LensView(
    [property: Id(0)] IReadOnlyList<TokenPieceInfo> Tokens,
    [property: Id(1)] int Position,
    [property: Id(2)] IReadOnlyList<LensLayerView> Layers);
