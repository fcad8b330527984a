namespace InsideLLMs.Distributed.Maths.Sampling;

/// <summary>Turns one position's logits into a distribution and picks a token from it.</summary>
/// <remarks>Plain arrays on purpose: the vocabulary is small, and the page shows these numbers before and after each filter.</remarks>
public static class Sampler
{
    /// <summary>Softmax of the raw logits (temperature 1, no filter): what the model itself predicts.</summary>
    public static double[] Softmax(ReadOnlySpan<float> logits, double temperature = 1.0)
    {
        var max = double.NegativeInfinity;
        foreach (var logit in logits)
        {
            max = Math.Max(max, logit);
        }

        var probabilities = new double[logits.Length];
        var sum = 0.0;
        for (var i = 0; i < logits.Length; i++)
        {
            probabilities[i] = Math.Exp((logits[i] - max) / temperature);
            sum += probabilities[i];
        }

        for (var i = 0; i < probabilities.Length; i++)
        {
            probabilities[i] /= sum;
        }

        return probabilities;
    }

    /// <summary>
    /// The distribution sampling draws from: temperature, then top-k, then top-p, renormalised. Greedy puts all
    /// the mass on the most likely token (the lowest ID wins a tie).
    /// </summary>
    public static double[] Distribution(ReadOnlySpan<float> logits, SamplingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(logits.Length);
        if (options.Greedy)
        {
            var best = 0;
            for (var i = 1; i < logits.Length; i++)
            {
                if (logits[i] > logits[best])
                {
                    best = i;
                }
            }

            var oneHot = new double[logits.Length];
            oneHot[best] = 1;
            return oneHot;
        }

        var probabilities = Softmax(logits, options.Temperature);
        // Most likely first; ties by ID, so the filters are deterministic.
        var order = Enumerable.Range(0, probabilities.Length).OrderByDescending(i => probabilities[i]).ThenBy(i => i).ToArray();
        var keep = options.TopK ?? probabilities.Length;
        if (options.TopP is { } topP)
        {
            var cumulative = 0.0;
            for (var rank = 0; rank < keep; rank++)
            {
                cumulative += probabilities[order[rank]];
                if (cumulative >= topP)
                {
                    keep = rank + 1;
                    break;
                }
            }
        }

        var filtered = new double[probabilities.Length];
        var mass = 0.0;
        for (var rank = 0; rank < keep; rank++)
        {
            filtered[order[rank]] = probabilities[order[rank]];
            mass += probabilities[order[rank]];
        }

        for (var i = 0; i < filtered.Length; i++)
        {
            filtered[i] /= mass;
        }

        return filtered;
    }

    /// <summary>Inverse-CDF draw: the first token whose cumulative probability exceeds <paramref name="uniform"/> in [0, 1).</summary>
    public static int Pick(ReadOnlySpan<double> probabilities, double uniform)
    {
        var cumulative = 0.0;
        var last = -1;
        for (var i = 0; i < probabilities.Length; i++)
        {
            if (probabilities[i] <= 0)
            {
                continue;
            }

            last = i;
            cumulative += probabilities[i];
            if (uniform < cumulative)
            {
                return i;
            }
        }

        return last >= 0 ? last : throw new ArgumentException("The distribution has no token with positive probability.");
    }
}
