namespace InsideLLMs.Distributed.Contracts.Inference;

/// <summary>
/// One generation session (key: <c>{version}/{session}</c>, a fresh session id per generation). Streams tokens one at a
/// time: the first from the prompt pass, each next one from a single-position pass through the stages' KV caches.
/// </summary>
public interface IGenerationGrain : IGrainWithStringKey
{
    /// <exception cref="ArgumentException">
    /// Unknown version, empty prompt, a prompt longer than the context, or bad sampling options (raised at the first
    /// MoveNextAsync).
    /// </exception>
    IAsyncEnumerable<GeneratedTokenInfo> GenerateAsync(GenerationRequest request);
}
