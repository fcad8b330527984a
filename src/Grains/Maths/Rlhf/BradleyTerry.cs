namespace InsideLLMs.Distributed.Maths.Rlhf;

/// <summary>
/// The reward model's loss for one ranking (Ouyang et al. 2022): its K completions' scores, and for every one of the
/// C(K,2) pairs the Bradley-Terry log-likelihood that the better one wins, P(i over j) = σ(s_i - s_j). All pairs of a
/// ranking stay in one batch element and the sum is scaled by 1/C(K,2), so a ranking of 9 weighs as much as one of 2
/// and its pairs (which share completions) do not over-fit as separate examples would.
/// </summary>
public static class BradleyTerry
{
    /// <param name="scores">The scores of the task's completions, indexed as the task numbers them.</param>
    /// <param name="order">The ranking: completion indices, best first.</param>
    /// <returns>-1/C(K,2) Σ_{i above j} log σ(s_i - s_j), and the fraction of pairs the scores already order as the ranking does.</returns>
    public static (double Loss, double PairAccuracy) Loss(IReadOnlyList<double> scores, IReadOnlyList<int> order)
    {
        ArgumentNullException.ThrowIfNull(scores);
        RankingRules.CheckOrder(order, scores.Count);
        double loss = 0, right = 0;
        var pairs = 0;
        for (var better = 0; better < order.Count; better++)
        {
            for (var worse = better + 1; worse < order.Count; worse++)
            {
                var margin = scores[order[better]] - scores[order[worse]];
                loss += LogOnePlusExp(-margin); // -log σ(m) = log(1 + e^-m), computed without overflow
                right += margin > 0 ? 1 : 0;
                pairs++;
            }
        }

        return (loss / pairs, right / pairs);
    }

    /// <summary>log(1 + eˣ) for any x.</summary>
    public static double LogOnePlusExp(double x) => x > 0 ? x + Math.Log(1 + Math.Exp(-x)) : Math.Log(1 + Math.Exp(x));
}
