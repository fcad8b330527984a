namespace InsideLLMs.Distributed.Contracts.Inference;

/// <param name="Before">The model's own distribution (softmax, temperature 1), most likely first.</param>
/// <param name="After">The distribution sampling draws from (temperature, top-k, top-p, renormalised), most likely first.</param>
/// <param name="Kept">Tokens with non-zero probability after the filters.</param>
[GenerateSerializer, Immutable, Alias("NextTokenView")]
public sealed record NextTokenView(
    [property: Id(0)] IReadOnlyList<TokenPieceInfo> Tokens,
    [property: Id(1)] IReadOnlyList<TokenAlternative> Before,
    [property: Id(2)] IReadOnlyList<TokenAlternative> After,
    [property: Id(3)] int Kept,
    [property: Id(4)] int VocabularySize);
