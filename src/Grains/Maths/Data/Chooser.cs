namespace InsideLLMs.Distributed.Maths.Data;

/// <summary>
/// Makes the grammar's choices and adds up their log-probabilities. Sampling and enumeration run the same
/// generator with different choosers, so the probability reported while sampling is, bit for bit, the one
/// enumeration assigns to the same derivation.
/// </summary>
internal abstract class Chooser
{
    /// <summary>Natural log of the product of the probabilities of every choice made so far.</summary>
    public double LogProbability { get; private set; }

    public int Uniform(int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var index = Pick(count, weights: default);
        LogProbability -= Math.Log(count);
        return index;
    }

    /// <summary>Index i with probability weights[i] / Σ weights; every weight must be positive.</summary>
    public int Weighted(ReadOnlySpan<double> weights)
    {
        var sum = 0.0;
        foreach (var weight in weights)
        {
            if (!(weight > 0) || double.IsInfinity(weight))
            {
                throw new ArgumentException("Choice weights must be positive and finite; leave unavailable options out.", nameof(weights));
            }

            sum += weight;
        }

        var index = Pick(weights.Length, weights);
        LogProbability += Math.Log(weights[index] / sum);
        return index;
    }

    public T Pick<T>(IReadOnlyList<T> items) => items[Uniform(items.Count)];

    /// <summary>An index in [0, count); <paramref name="weights"/> is empty for a uniform choice.</summary>
    protected abstract int Pick(int count, ReadOnlySpan<double> weights);
}

/// <summary>Draws each choice from a seeded stream.</summary>
internal sealed class RandomChooser(DeterministicRandom random) : Chooser
{
    protected override int Pick(int count, ReadOnlySpan<double> weights)
    {
        if (weights.IsEmpty)
        {
            return random.NextInt(count);
        }

        var sum = 0.0;
        foreach (var weight in weights)
        {
            sum += weight;
        }

        var u = random.NextDouble() * sum;
        for (var i = 0; i < count - 1; i++)
        {
            u -= weights[i];
            if (u < 0)
            {
                return i;
            }
        }

        return count - 1;
    }
}

/// <summary>
/// Walks every derivation in turn, like an odometer: it replays a recorded prefix of choices, takes option 0
/// at each new choice, and after a complete derivation advances the last choice that has options left.
/// </summary>
internal sealed class EnumeratingChooser : Chooser
{
    private readonly List<int> _choices;
    private readonly List<int> _counts;
    private int _position;

    public EnumeratingChooser()
        : this([], [])
    {
    }

    private EnumeratingChooser(List<int> choices, List<int> counts)
    {
        _choices = choices;
        _counts = counts;
    }

    /// <summary>The chooser for the next derivation, or null when this was the last one.</summary>
    public EnumeratingChooser? Next()
    {
        if (_position != _choices.Count)
        {
            throw new InvalidOperationException("The generator made fewer choices than it did before with the same prefix; it is not deterministic.");
        }

        var choices = new List<int>(_choices);
        var counts = new List<int>(_counts);
        while (choices.Count > 0 && choices[^1] == counts[^1] - 1)
        {
            choices.RemoveAt(choices.Count - 1);
            counts.RemoveAt(counts.Count - 1);
        }

        if (choices.Count == 0)
        {
            return null;
        }

        choices[^1]++;
        return new EnumeratingChooser(choices, counts);
    }

    protected override int Pick(int count, ReadOnlySpan<double> weights)
    {
        if (_position < _choices.Count)
        {
            if (_counts[_position] != count)
            {
                throw new InvalidOperationException("The generator offered a different number of options on replay; it is not deterministic.");
            }

            return _choices[_position++];
        }

        _choices.Add(0);
        _counts.Add(count);
        _position++;
        return 0;
    }
}
