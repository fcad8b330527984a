namespace InsideLLMs.Distributed.Contracts.Inference;

/// <summary>One generated token.</summary>
/// <param name="Index">0 for the first generated token.</param>
/// <param name="Position">The position the token was predicted from (the last prompt token's for index 0).</param>
/// <param name="SourceId">Its ID in the encoding (GPT-2's for the synthetic corpus); -1 end of document, -2 unknown.</param>
/// <param name="Probability">The probability the model gives it (softmax of the logits, temperature 1).</param>
/// <param name="SampledProbability">The probability it had in the distribution sampled from (after temperature, top-k, top-p).</param>
/// <param name="Alternatives">The 10 most likely tokens at this position by <see cref="Probability"/>, most likely first.</param>
/// <param name="FinishReason">Null while more may follow; on the last token: <c>length</c>, <c>stop</c> or <c>context</c> (the context is full).</param>
/// <param name="ElapsedMilliseconds">Since the request reached the generation grain.</param>
[GenerateSerializer, Immutable, Alias("GeneratedTokenInfo")]
public sealed record GeneratedTokenInfo(
    [property: Id(0)] int Index,
    [property: Id(1)] int Position,
    [property: Id(2)] int ModelId,
    [property: Id(3)] int SourceId,
    [property: Id(4)] string Text,
    [property: Id(5)] double Probability,
    [property: Id(6)] double SampledProbability,
    [property: Id(7)] float Logit,
    [property: Id(8)] IReadOnlyList<TokenAlternative> Alternatives,
    [property: Id(9)] string? FinishReason,
    [property: Id(10)] double ElapsedMilliseconds);
