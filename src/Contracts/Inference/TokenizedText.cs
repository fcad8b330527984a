namespace InsideLLMs.Distributed.Contracts.Inference;

[GenerateSerializer, Immutable, Alias("TokenizedText")]
public sealed record TokenizedText([property: Id(0)] string Encoding, [property: Id(1)] IReadOnlyList<TokenPieceInfo> Tokens);
