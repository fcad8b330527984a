namespace InsideLLMs.Distributed.Contracts.Inference;

/// <summary>What to generate and how to sample (the same rules as the single-process <c>TextGenerator</c>).</summary>
/// <param name="Temperature">Divides the logits; must be positive and finite unless <paramref name="Greedy"/>.</param>
/// <param name="TopK">Keep the K most likely tokens (1..V).</param>
/// <param name="TopP">Nucleus: keep the most likely tokens until their probability reaches P, in (0, 1].</param>
/// <param name="Seed">Seeds the draws: same prompt, version and options give the same tokens.</param>
/// <param name="Stop">Generation ends after the token that completes this text (that token is still sent).</param>
[GenerateSerializer, Immutable, Alias("GenerationRequest")]
public sealed record GenerationRequest(
    [property: Id(0)] string Prompt,
    [property: Id(1)] double Temperature = 1.0,
    [property: Id(2)] int? TopK = null,
    [property: Id(3)] double? TopP = null,
    [property: Id(4)] bool Greedy = false,
    [property: Id(5)] long Seed = 0,
    [property: Id(6)] int MaxTokens = 32,
    [property: Id(7)] string? Stop = null);
