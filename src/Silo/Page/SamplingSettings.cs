using InsideLLMs.Distributed.Contracts.Inference;

namespace InsideLLMs.Distributed.Silo.Page;

/// <summary>The generation section's sampling controls, as the URL keeps them.</summary>
/// <param name="TopK">Null: no top-k filter (the URL writes 0).</param>
/// <param name="TopP">Null: no nucleus filter (the URL writes 1).</param>
public sealed record SamplingSettings(double Temperature, int? TopK, double? TopP, long Seed)
{
    public static SamplingSettings Default { get; } = new(0.8, 20, 0.95, 1);

    /// <summary>The settings a URL names, each missing one at its default.</summary>
    public static SamplingSettings FromUrl(double? temperature, int? topK, double? topP, long? seed) => new(
        temperature ?? Default.Temperature,
        topK is null ? Default.TopK : topK > 0 ? topK : null,
        topP is null ? Default.TopP : topP < 1 ? topP : null,
        seed ?? Default.Seed);

    public GenerationRequest Request(string prompt, int maxTokens) =>
        new(prompt, Temperature, TopK, TopP, Greedy: false, Seed: Seed, MaxTokens: maxTokens);
}
