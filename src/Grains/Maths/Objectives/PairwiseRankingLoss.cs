using InsideLLMs.Distributed.Maths.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Maths.Objectives;

/// <summary>
/// The reward model's objective (Ouyang et al. 2022): a ranking of K completions of one prompt gives C(K,2) ordered
/// pairs, and the loss of the ranking is −1/C(K,2) Σ_{i above j} log σ(r_i − r_j), the Bradley-Terry log-likelihood of
/// every pair, with r a completion's score read at its last token. All pairs of a ranking stay in one batch element and
/// the 1/C(K,2) makes a ranking of 9 weigh as much as one of 2; the step's loss is the mean over its rankings.
/// </summary>
/// <remarks>
/// How a batch says it: a ranking is K consecutive rows (one completion each; B is a multiple of K), and each row has
/// exactly one target that is not <see cref="GptStage.IgnoreIndex"/>, at the position whose score counts (the row's last
/// token), holding the completion's place in the ranking (0 = best). <see cref="ObjectiveTargets.StepTargetCount"/> is
/// the number of rankings in the whole step, the divisor of each micro-batch's summed loss.
/// </remarks>
public sealed class PairwiseRankingLoss : TrainingObjective
{
    private readonly long[] _better;
    private readonly long[] _worse;

    /// <param name="completions">K, the completions of every ranking this objective sees (2 to 9).</param>
    public PairwiseRankingLoss(int completions)
    {
        if (completions is < 2 or > 9)
        {
            throw new ArgumentOutOfRangeException(nameof(completions), completions, "A ranking orders 2 to 9 completions.");
        }

        Completions = completions;
        var pairs = Enumerable.Range(0, completions).SelectMany(i => Enumerable.Range(i + 1, completions - i - 1).Select(j => (i, j))).ToArray();
        _better = [.. pairs.Select(p => (long)p.i)];
        _worse = [.. pairs.Select(p => (long)p.j)];
    }

    public override ObjectiveKind Kind => ObjectiveKind.Reward;

    /// <summary>K.</summary>
    public int Completions { get; }

    public override ObjectiveTerm Loss(Tensor output, ObjectiveTargets targets)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(targets);
        var rankings = targets.BatchSize / Completions;
        if (targets.StepTargetCount < rankings || rankings < 1)
        {
            throw new ArgumentException($"The pairwise ranking loss needs the step's ranking count ({targets.StepTargetCount}) to cover this micro-batch's {rankings}.");
        }

        var perRanking = RankingLosses(output, targets); // (G)
        var sum = perRanking.sum();
        using var scale = (1.0 / targets.StepTargetCount).ToScalar();
        return new ObjectiveTerm(sum.mul(scale), sum.item<float>(), rankings);
    }

    public override (double LossSum, long Count) Evaluate(Tensor output, ObjectiveTargets targets)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(targets);
        return (RankingLosses(output, targets).sum().item<float>(), targets.BatchSize / Completions);
    }

    /// <summary>
    /// Each row's score position and its place in its ranking, read from the targets: row b's score sits at flat index
    /// b·T + position, and <c>Order[g·K + place]</c> is the row of ranking g's completion in that place.
    /// </summary>
    /// <exception cref="ArgumentException">The rows are not whole rankings, or a row does not mark exactly one position, or a ranking's places are not 0..K-1 once each.</exception>
    public (long[] ScoreIndex, long[] Order) ReadRows(ObjectiveTargets targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        var (b, t, k) = (targets.BatchSize, targets.BlockSize, Completions);
        if (b % k != 0)
        {
            throw new ArgumentException($"A micro-batch of rankings of {k} completions holds a multiple of {k} rows; got {b}.");
        }

        var scoreIndex = new long[b];
        var order = new long[b];
        Array.Fill(order, -1);
        for (var row = 0; row < b; row++)
        {
            var position = -1;
            for (var i = 0; i < t; i++)
            {
                if (targets.Targets[(row * t) + i] != GptStage.IgnoreIndex)
                {
                    position = position < 0 ? i : throw new ArgumentException($"Row {row} marks two score positions ({position} and {i}); a completion has one score.");
                }
            }

            if (position < 0)
            {
                throw new ArgumentException($"Row {row} marks no score position.");
            }

            var place = targets.Targets[(row * t) + position];
            var slot = ((row / k) * k) + place;
            if (place < 0 || place >= k || order[slot] >= 0)
            {
                throw new ArgumentException($"Row {row} says it is in place {place} of its ranking, which is not a free place of 0..{k - 1}.");
            }

            scoreIndex[row] = ((long)row * t) + position;
            order[slot] = row;
        }

        return (scoreIndex, order);
    }

    /// <summary>−1/C(K,2) Σ log σ(r_better − r_worse) for each ranking of the micro-batch, (G).</summary>
    private Tensor RankingLosses(Tensor output, ObjectiveTargets targets)
    {
        if (output.dim() != 3 || output.shape[2] != 1 || output.shape[0] != targets.BatchSize || output.shape[1] != targets.BlockSize)
        {
            throw new ArgumentException(
                $"The pairwise ranking loss reads scores (B, T, 1) = ({targets.BatchSize}, {targets.BlockSize}, 1); got ({string.Join(", ", output.shape)}): is the model's head a score head?");
        }

        var (scoreIndex, order) = ReadRows(targets);
        using var inverse = (1.0 / _better.Length).ToScalar();
        var rowScores = output.reshape(-1).index_select(0, tensor(scoreIndex)); // (B), one per row
        var ranked = rowScores.index_select(0, tensor(order)).view(-1, Completions); // (G, K), best first
        var margins = ranked.index_select(1, tensor(_better)).sub(ranked.index_select(1, tensor(_worse))); // (G, C(K,2))
        return nn.functional.logsigmoid(margins).sum(1).neg().mul(inverse); // (G)
    }
}
