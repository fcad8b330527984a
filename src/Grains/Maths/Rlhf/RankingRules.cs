using System.Globalization;

namespace InsideLLMs.Distributed.Maths.Rlhf;

/// <summary>
/// What a ranking must be, and how far annotators agree. A ranking task shows K completions of one prompt; an
/// annotator answers with an order: the completions' indices, best first, each exactly once.
/// </summary>
public static class RankingRules
{
    /// <summary>Fewer than two completions have no order; past nine a person no longer reads them all.</summary>
    public const int MinCompletions = 2;

    public const int MaxCompletions = 9;

    public const int DefaultCompletions = 4;

    /// <summary>Annotator ids are names or e-mail-like handles, not documents.</summary>
    public const int MaxAnnotatorLength = 64;

    /// <exception cref="ArgumentException">K outside 2..9.</exception>
    public static int CheckCompletionCount(int k) => k is >= MinCompletions and <= MaxCompletions
        ? k
        : throw new ArgumentException($"A ranking task has from {MinCompletions} to {MaxCompletions} completions; got {k}.");

    /// <summary>An annotator id: 1 to 64 letters, digits and <c>. _ - @</c>.</summary>
    /// <exception cref="ArgumentException">Empty, too long, or another character, named.</exception>
    public static string CheckAnnotator(string? annotator)
    {
        if (string.IsNullOrEmpty(annotator))
        {
            throw new ArgumentException("A ranking needs an annotator id (letters, digits and . _ - @).");
        }

        if (annotator.Length > MaxAnnotatorLength)
        {
            throw new ArgumentException($"An annotator id has at most {MaxAnnotatorLength} characters; got {annotator.Length}.");
        }

        var bad = annotator.FirstOrDefault(c => !(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '@'));
        return bad == default
            ? annotator
            : throw new ArgumentException($"An annotator id has only letters, digits and . _ - @; '{annotator}' has '{bad}'.");
    }

    /// <summary>The order must list each of the task's K completions once, best first.</summary>
    /// <exception cref="ArgumentException">Missing, the wrong length, an index out of range or repeated; the message shows the order.</exception>
    public static IReadOnlyList<int> CheckOrder(IReadOnlyList<int>? order, int k)
    {
        if (order is null)
        {
            throw new ArgumentException($"A ranking needs an order: the {k} completions' indices (0 to {k - 1}), best first.");
        }

        var shown = "[" + string.Join(", ", order.Select(i => i.ToString(CultureInfo.InvariantCulture))) + "]";
        if (order.Count != k)
        {
            throw new ArgumentException($"The task has {k} completions but the order {shown} lists {order.Count}; list each of 0 to {k - 1} once, best first.");
        }

        var seen = new bool[k];
        foreach (var index in order)
        {
            if (index < 0 || index >= k)
            {
                throw new ArgumentException($"The order {shown} has {index}, which is not a completion: they are numbered 0 to {k - 1}.");
            }

            if (seen[index])
            {
                throw new ArgumentException($"The order {shown} lists completion {index} twice: it must be a permutation of 0 to {k - 1}.");
            }

            seen[index] = true;
        }

        return order;
    }

    /// <summary>
    /// The fraction of the C(K,2) pairs of completions two orders put the same way round: 1 for equal orders, 0 for
    /// reversed ones, 0.5 expected by chance ((1 + Kendall's tau) / 2).
    /// </summary>
    public static double PairwiseAgreement(IReadOnlyList<int> first, IReadOnlyList<int> second)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        if (first.Count != second.Count || first.Count < MinCompletions)
        {
            throw new ArgumentException($"Two orders of the same task compare; got {first.Count} and {second.Count} completions.");
        }

        var a = Positions(first);
        var b = Positions(second);
        int same = 0, pairs = 0;
        for (var i = 0; i < a.Length; i++)
        {
            for (var j = i + 1; j < a.Length; j++)
            {
                pairs++;
                if ((a[i] < a[j]) == (b[i] < b[j]))
                {
                    same++;
                }
            }
        }

        return (double)same / pairs;
    }

    /// <summary>The mean <see cref="PairwiseAgreement"/> over every pair of annotators of one task; null with fewer than two.</summary>
    public static double? Agreement(IReadOnlyList<IReadOnlyList<int>> orders)
    {
        ArgumentNullException.ThrowIfNull(orders);
        if (orders.Count < 2)
        {
            return null;
        }

        var total = 0.0;
        var count = 0;
        for (var i = 0; i < orders.Count; i++)
        {
            for (var j = i + 1; j < orders.Count; j++)
            {
                total += PairwiseAgreement(orders[i], orders[j]);
                count++;
            }
        }

        return total / count;
    }

    /// <summary>Where each completion stands in the order (0 best).</summary>
    private static int[] Positions(IReadOnlyList<int> order)
    {
        var positions = new int[order.Count];
        for (var rank = 0; rank < order.Count; rank++)
        {
            positions[order[rank]] = rank;
        }

        return positions;
    }
}
