namespace InsideLLMs.Distributed.Maths.Sampling;

/// <summary>How the next token is chosen from the model's logits.</summary>
/// <param name="Temperature">Divides the logits: below 1 sharpens, above 1 flattens. Ignored when greedy.</param>
/// <param name="TopK">Keep only the K most likely tokens.</param>
/// <param name="TopP">Keep the smallest set of most likely tokens whose probability reaches P (nucleus sampling).</param>
/// <param name="Greedy">Always take the most likely token.</param>
/// <param name="Seed">Seeds the draws: the same prompt, model and options give the same text.</param>
public sealed record SamplingOptions(
    double Temperature = 1.0, int? TopK = null, double? TopP = null, bool Greedy = false, long Seed = 0)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the bad value.</summary>
    public SamplingOptions Validate(int vocabularySize)
    {
        if (!Greedy && (double.IsNaN(Temperature) || double.IsInfinity(Temperature) || Temperature <= 0))
        {
            throw new ArgumentException($"Temperature must be a positive finite number; got {Temperature}. Use greedy decoding for temperature 0.");
        }

        if (TopK is { } k && (k < 1 || k > vocabularySize))
        {
            throw new ArgumentException($"top-k must be between 1 and the vocabulary size {vocabularySize}; got {k}.");
        }

        if (TopP is { } p && (double.IsNaN(p) || p <= 0 || p > 1))
        {
            throw new ArgumentException($"top-p must be in (0, 1]; got {p}.");
        }

        return this;
    }
}
