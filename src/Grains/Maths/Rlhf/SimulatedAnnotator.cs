using System.Text;
using InsideLLMs.Distributed.Maths.Data;

namespace InsideLLMs.Distributed.Maths.Rlhf;

/// <summary>
/// An annotator that ranks by the built-in corpus's <see cref="PreferenceRule"/>, for demos and tests. With probability
/// <see cref="Noise"/> a ranking is instead a uniformly random order (a careless or disagreeing annotator), so a
/// 20%-noisy annotator agrees with the rule on about 0.8 + 0.2 x 0.5 = 90% of pairs. Deterministic: the same
/// annotator, seed and task always give the same order.
/// </summary>
public sealed class SimulatedAnnotator
{
    private readonly PreferenceRule _rule;
    private readonly long _seed;

    /// <exception cref="ArgumentException">Noise outside [0, 1].</exception>
    public SimulatedAnnotator(PreferenceRule rule, double noise, long seed)
    {
        _rule = rule ?? throw new ArgumentNullException(nameof(rule));
        Noise = noise is >= 0 and <= 1 ? noise : throw new ArgumentException($"Annotator noise is a probability from 0 to 1; got {noise}.");
        _seed = seed;
    }

    public double Noise { get; }

    /// <summary>The completions' indices, best first.</summary>
    public int[] Rank(string taskId, string prompt, IReadOnlyList<string> completions)
    {
        ArgumentNullException.ThrowIfNull(taskId);
        ArgumentNullException.ThrowIfNull(completions);
        var random = new DeterministicRandom(DeterministicRandom.Mix(_seed, StableHash(taskId)));
        if (random.NextDouble() >= Noise)
        {
            return _rule.Rank(prompt, completions);
        }

        var order = Enumerable.Range(0, completions.Count).ToArray();
        for (var i = order.Length - 1; i > 0; i--)
        {
            var j = random.NextInt(i + 1); // Fisher-Yates
            (order[i], order[j]) = (order[j], order[i]);
        }

        return order;
    }

    /// <summary>FNV-1a of the UTF-8 bytes: the same in every process (string.GetHashCode is not).</summary>
    private static long StableHash(string text)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return (long)hash;
    }
}
