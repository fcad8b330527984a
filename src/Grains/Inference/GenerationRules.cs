using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Maths.Sampling;
using InsideLLMs.Distributed.Maths.Tokenization;

namespace InsideLLMs.Distributed.Grains.Inference;

/// <summary>The checks a generation or inspection request passes before any compute, each failing with a message that says why.</summary>
public static class GenerationRules
{
    /// <summary>More than this is a typo, not a request: the context ends generation long before.</summary>
    public const int MaxTokensLimit = 10_000;

    /// <summary>The sampling options of a request, validated against the vocabulary.</summary>
    /// <exception cref="ArgumentException">Temperature, top-k, top-p or max tokens out of range.</exception>
    public static SamplingOptions Options(GenerationRequest request, int vocabularySize)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.MaxTokens is < 1 or > MaxTokensLimit)
        {
            throw new ArgumentException($"max tokens must be between 1 and {MaxTokensLimit}; got {request.MaxTokens}.");
        }

        return new SamplingOptions(request.Temperature, request.TopK, request.TopP, request.Greedy, request.Seed).Validate(vocabularySize);
    }

    /// <summary>The prompt as model IDs.</summary>
    /// <exception cref="ArgumentException">
    /// The prompt is empty, or longer than the context: the model learned position embeddings for positions
    /// 0..context-1 only, so a longer prompt has positions that do not exist. Nothing is cut silently.
    /// </exception>
    public static int[] Prompt(ModelVocabulary vocabulary, string? prompt, int context)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        if (string.IsNullOrEmpty(prompt))
        {
            throw new ArgumentException("The prompt is empty: there is nothing to continue.");
        }

        var ids = vocabulary.EncodeText(prompt);
        if (ids.Length == 0)
        {
            throw new ArgumentException("The prompt encodes to no tokens: there is nothing to continue.");
        }

        if (ids.Length > context)
        {
            throw new ArgumentException(
                $"The prompt is {ids.Length} tokens but the model's context is {context}: it learned position embeddings for positions " +
                $"0..{context - 1} only, so token {context} and later would need positions that do not exist. Shorten the prompt to at most {context} tokens " +
                "(generation also ends when the context is full).");
        }

        return ids;
    }
}
