namespace InsideLLMs.Distributed.Contracts.Inference;

/// <summary>
/// Section 07 for one token of one head: its input (LayerNorm of the residual stream), q, every token's k and v, raw
/// scores q.k, scaled by <see cref="Scale"/> = 1/sqrt(d), the causal mask, softmax weights, and the weighted sum of values
/// (computed in double from q, k, v); <see cref="ModelOutput"/> is what the model's own attention produced.
/// </summary>
[GenerateSerializer, Immutable, Alias("QkvView")]
public sealed record QkvView(
    [property: Id(0)] int Layer,
    [property: Id(1)] int Head,
    [property: Id(2)] int Token,
    [property: Id(3)] int HeadSize,
    [property: Id(4)] double Scale,
    [property: Id(5)] IReadOnlyList<TokenPieceInfo> Tokens,
    [property: Id(6)] float[] Input,
    [property: Id(7)] float[] Query,
    [property: Id(8)] float[][] Keys,
    [property: Id(9)] float[][] Values,
    [property: Id(10)] double[] RawScores,
    [property: Id(11)] double[] ScaledScores,
    [property: Id(12)] bool[] Masked,
    [property: Id(13)] double[] Weights,
    [property: Id(14)] double[] Output,
    [property: Id(15)] float[] ModelOutput);
