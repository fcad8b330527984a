namespace InsideLLMs.Distributed.Contracts.Inference;

/// <summary>
/// The walkthrough's numbers from real weights (key: a version name, or <c>live:{runId}</c> for the run's latest
/// parameters). The whole model runs in this grain's process, on the silo's compute threads.
/// </summary>
/// <remarks>Every method throws <see cref="ArgumentException"/> naming the bad input (empty or too long prompt, layer, head, token).</remarks>
public interface IInspectorGrain : IGrainWithStringKey
{
    /// <summary>Pieces with UTF-8 byte ranges, encoding IDs and model IDs.</summary>
    Task<TokenizedText> TokenizeAsync(string text);

    /// <summary>PCA of the token embedding table over the lexicon's tokens, each with its category.</summary>
    Task<EmbeddingView> EmbeddingsAsync();

    /// <summary>The <paramref name="count"/> tokens nearest to <paramref name="token"/> (one token's text) by cosine.</summary>
    Task<IReadOnlyList<NeighbourInfo>> NeighboursAsync(string token, int count);

    /// <summary>Every layer's and head's T x T attention weights for the prompt.</summary>
    Task<AttentionView> AttentionAsync(string prompt);

    /// <summary>Section 07 for one layer, head and token: q, k, v, scores, mask, weights, output.</summary>
    Task<QkvView> QkvAsync(string prompt, int layer, int head, int token);

    /// <summary>The next-token distribution after the prompt, before and after temperature / top-k / top-p.</summary>
    Task<NextTokenView> NextTokenAsync(GenerationRequest request, int top);

    /// <summary>The logit lens at <paramref name="position"/> (default: the last token).</summary>
    Task<LensView> LensAsync(string prompt, int? position, int top);

    /// <summary>
    /// One real training token through the live weights (live inspectors only): row 0 of replica 0's micro-batch 0 of
    /// <paramref name="step"/> (1-based; default: the step the weights held have completed), at <paramref name="position"/>
    /// (default: the middle of the context), with the <paramref name="top"/> most likely next tokens.
    /// </summary>
    /// <exception cref="ArgumentException">The source is a version, not <c>live:{runId}</c>; or the step, position or top is out of range.</exception>
    /// <exception cref="InvalidOperationException">The run has not completed a step yet.</exception>
    Task<TrainingTokenView> TrainingTokenAsync(long? step, int? position, int top);

    /// <summary>Stages and layers, parameter counts and the silo hosting each inference stage grain (versions only).</summary>
    Task<ArchitectureView> ArchitectureAsync();

    /// <summary>
    /// The model's greedy answer to an instruction, as fine-tuning taught it to answer (after EOD, the instruction and
    /// "."), until the end token or <paramref name="maxTokens"/>.
    /// </summary>
    Task<AnswerView> AnswerAsync(string instruction, int maxTokens);

    /// <summary>
    /// log p(answer | instruction) under this model, in nats: the sum over the answer's tokens (and the end token when
    /// <paramref name="ended"/>) of their log-probabilities after EOD, the instruction and ".".
    /// </summary>
    Task<double> AnswerLogProbabilityAsync(string instruction, string answer, bool ended);
}

/// <summary>A model's answer to an instruction: its text, whether it produced the end token, its token count, and the weights' step.</summary>
[GenerateSerializer, Immutable, Alias("AnswerView")]
public sealed record AnswerView(
    [property: Id(0)] string Instruction,
    [property: Id(1)] string Text,
    [property: Id(2)] bool Ended,
    [property: Id(3)] int Tokens,
    [property: Id(4)] long Step);
