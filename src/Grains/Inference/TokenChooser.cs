using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Sampling;
using InsideLLMs.Distributed.Maths.Tokenization;

namespace InsideLLMs.Distributed.Grains.Inference;

/// <summary>
/// Turns one position's logits into the next token with its probabilities and the top alternatives: the same
/// distribution and the same seeded draws as <see cref="TextGenerator"/>, so the cluster's tokens equal the single process's.
/// </summary>
public sealed class TokenChooser(ModelVocabulary vocabulary, SamplingOptions options)
{
    /// <summary>Alternatives sent with each token (the page shows ten).</summary>
    public const int AlternativeCount = 10;

    private readonly DeterministicRandom _random = new(options.Seed);

    public GeneratedTokenInfo Choose(float[] logits, int index, int position, double elapsedMilliseconds)
    {
        ArgumentNullException.ThrowIfNull(logits);
        var model = Sampler.Softmax(logits); // (V), temperature 1
        var sampled = Sampler.Distribution(logits, options); // (V)
        var id = Sampler.Pick(sampled, _random.NextDouble());
        return new GeneratedTokenInfo(
            index, position, id, vocabulary.ToSource(id), vocabulary.Describe(id), model[id], sampled[id], logits[id],
            Alternatives(vocabulary, logits, model, sampled, AlternativeCount), FinishReason: null, elapsedMilliseconds);
    }

    /// <summary>The <paramref name="count"/> tokens with the highest <paramref name="ranking"/> (default: the model's probability), ties by ID.</summary>
    public static IReadOnlyList<TokenAlternative> Alternatives(
        ModelVocabulary vocabulary, float[] logits, double[] model, double[] sampled, int count, double[]? ranking = null)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(sampled);
        var order = ranking ?? model;
        return [.. Enumerable.Range(0, logits.Length)
            .OrderByDescending(i => order[i]).ThenBy(i => i)
            .Take(count)
            .Select(i => new TokenAlternative(i, vocabulary.ToSource(i), vocabulary.Describe(i), logits[i], model[i], sampled[i]))];
    }
}
