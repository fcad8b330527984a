namespace InsideLLMs.Distributed.Contracts.Inference;

/// <summary>The prompt's tokens and every head's attention weights.</summary>
/// <remarks>Plain arrays: a view for the page (4 layers x 4 heads x 64 x 64 floats at most here), not a tensor between stages.</remarks>
[GenerateSerializer, Immutable, Alias("AttentionView")]
public sealed record AttentionView(
    [property: Id(0)] IReadOnlyList<TokenPieceInfo> Tokens,
    [property: Id(1)] IReadOnlyList<AttentionHeadView> Heads);
