namespace InsideLLMs.Distributed.Maths.Rlhf;

/// <summary>
/// PPO's bookkeeping for one batch of completions, in plain numbers: no gradient flows through it (rewards, advantages
/// and returns are computed once from the rollout and held fixed through the epochs of updates). It follows the
/// RLHF recipe of Ziegler et al. (2019) and Stiennon et al. (2020) as the public implementations do it: a per-token
/// reward that is the KL penalty to the reference model, with the reward model's score added at the last real token;
/// generalised advantage estimation; advantages whitened over the batch; clipped surrogate and clipped value losses.
/// Sequences are the completions' tokens only (the prompt is not acted on); each row of a batch has its own length.
/// </summary>
public static class PpoMath
{
    /// <summary>
    /// Per-token rewards of one completion: r_t = -β (log π(a_t) - log π_ref(a_t)), plus the score at the last token.
    /// </summary>
    /// <param name="logProbs">log π of each generated token at the sampling temperature, as sampled.</param>
    /// <param name="referenceLogProbs">log π_ref of the same tokens, same temperature.</param>
    /// <param name="score">The reward model's score of the whole completion (already clipped and, for a completion without
    /// an end token, penalised by the caller).</param>
    public static double[] TokenRewards(IReadOnlyList<double> logProbs, IReadOnlyList<double> referenceLogProbs, double score, double beta)
    {
        ArgumentNullException.ThrowIfNull(logProbs);
        ArgumentNullException.ThrowIfNull(referenceLogProbs);
        if (logProbs.Count != referenceLogProbs.Count || logProbs.Count == 0)
        {
            throw new ArgumentException($"A completion needs a log-probability of each of its tokens under both models; got {logProbs.Count} and {referenceLogProbs.Count}.");
        }

        var rewards = new double[logProbs.Count];
        for (var t = 0; t < rewards.Length; t++)
        {
            rewards[t] = -beta * (logProbs[t] - referenceLogProbs[t]);
        }

        rewards[^1] += score;
        return rewards;
    }

    /// <summary>The score the reward is built on: clipped to ±<paramref name="clip"/>, minus <paramref name="missingEndPenalty"/> when the completion never ended.</summary>
    public static double Score(double rewardModelScore, bool ended, double clip, double missingEndPenalty) =>
        Math.Clamp(rewardModelScore, -clip, clip) - (ended ? 0 : missingEndPenalty);

    /// <summary>
    /// Generalised advantage estimation over one completion: δ_t = r_t + γ V_{t+1} - V_t (V after the last token is 0),
    /// A_t = δ_t + γλ A_{t+1}; returns R_t = A_t + V_t, the value head's target.
    /// </summary>
    public static (double[] Advantages, double[] Returns) Gae(IReadOnlyList<double> rewards, IReadOnlyList<double> values, double gamma, double lambda)
    {
        ArgumentNullException.ThrowIfNull(rewards);
        ArgumentNullException.ThrowIfNull(values);
        if (rewards.Count != values.Count)
        {
            throw new ArgumentException($"Rewards and values are per token; got {rewards.Count} and {values.Count}.");
        }

        var advantages = new double[rewards.Count];
        var returns = new double[rewards.Count];
        var next = 0.0;
        for (var t = rewards.Count - 1; t >= 0; t--)
        {
            var nextValue = t + 1 < values.Count ? values[t + 1] : 0;
            var delta = rewards[t] + (gamma * nextValue) - values[t];
            next = delta + (gamma * lambda * next);
            advantages[t] = next;
            returns[t] = next + values[t];
        }

        return (advantages, returns);
    }

    /// <summary>Every token's advantage of the batch, shifted and scaled to mean 0 and standard deviation 1 (population variance, ε 1e-8).</summary>
    public static double[][] Whiten(IReadOnlyList<IReadOnlyList<double>> advantages)
    {
        ArgumentNullException.ThrowIfNull(advantages);
        var all = advantages.SelectMany(a => a).ToArray();
        if (all.Length == 0)
        {
            throw new ArgumentException("Whitening needs at least one advantage.");
        }

        var mean = all.Average();
        var variance = all.Average(a => (a - mean) * (a - mean));
        var scale = 1 / Math.Sqrt(variance + 1e-8);
        return [.. advantages.Select(row => row.Select(a => (a - mean) * scale).ToArray())];
    }

    /// <summary>
    /// The clipped surrogate over every token of the batch: mean of max(-A ρ, -A clip(ρ, 1-ε, 1+ε)) with
    /// ρ = exp(log π_new - log π_old); the fraction of tokens where the clip binds; and the approximate KL between old and
    /// new policy, ½ mean (log π_new - log π_old)².
    /// </summary>
    public static (double Loss, double ClipFraction, double ApproximateKl) PolicyLoss(
        IReadOnlyList<double> newLogProbs, IReadOnlyList<double> oldLogProbs, IReadOnlyList<double> advantages, double clip)
    {
        Same(newLogProbs, oldLogProbs, advantages);
        double loss = 0, clipped = 0, kl = 0;
        for (var t = 0; t < newLogProbs.Count; t++)
        {
            var difference = newLogProbs[t] - oldLogProbs[t];
            var ratio = Math.Exp(difference);
            var unclipped = -advantages[t] * ratio;
            var bounded = -advantages[t] * Math.Clamp(ratio, 1 - clip, 1 + clip);
            loss += Math.Max(unclipped, bounded);
            clipped += bounded > unclipped ? 1 : 0;
            kl += 0.5 * difference * difference;
        }

        return (loss / newLogProbs.Count, clipped / newLogProbs.Count, kl / newLogProbs.Count);
    }

    /// <summary>
    /// The clipped value loss over every token: ½ mean max((V - R)², (V_old + clip(V - V_old, ±ε) - R)²), and the fraction
    /// of tokens where the clip binds.
    /// </summary>
    public static (double Loss, double ClipFraction) ValueLoss(
        IReadOnlyList<double> newValues, IReadOnlyList<double> oldValues, IReadOnlyList<double> returns, double clip)
    {
        Same(newValues, oldValues, returns);
        double loss = 0, clipped = 0;
        for (var t = 0; t < newValues.Count; t++)
        {
            var bounded = oldValues[t] + Math.Clamp(newValues[t] - oldValues[t], -clip, clip);
            var unclipped = (newValues[t] - returns[t]) * (newValues[t] - returns[t]);
            var kept = (bounded - returns[t]) * (bounded - returns[t]);
            loss += Math.Max(unclipped, kept);
            clipped += kept > unclipped ? 1 : 0;
        }

        return (0.5 * loss / newValues.Count, clipped / newValues.Count);
    }

    /// <summary>1 - Var(R - V) / Var(R): how much of the returns' spread the value head predicts (1 perfect, 0 no better than their mean).</summary>
    public static double ExplainedVariance(IReadOnlyList<double> values, IReadOnlyList<double> returns)
    {
        Same(values, returns, returns);
        var variance = Variance(returns);
        return variance == 0 ? double.NaN : 1 - (Variance([.. returns.Zip(values, (r, v) => r - v)]) / variance);
    }

    /// <summary>
    /// The adaptive KL coefficient of Ziegler et al.: β ← β (1 + clip(KL / target - 1, -0.2, 0.2) · n / horizon), after a
    /// batch of <paramref name="completions"/> completions whose mean KL to the reference was <paramref name="kl"/>.
    /// </summary>
    public static double AdaptKl(double beta, double kl, double target, double horizon, int completions)
    {
        if (!(target > 0) || !(horizon > 0))
        {
            throw new ArgumentException($"The adaptive KL needs a positive target and horizon; got {target} and {horizon}.");
        }

        var error = Math.Clamp((kl / target) - 1, -0.2, 0.2);
        return beta * (1 + (error * completions / horizon));
    }

    private static double Variance(IReadOnlyList<double> values)
    {
        var mean = values.Average();
        return values.Average(v => (v - mean) * (v - mean));
    }

    private static void Same(IReadOnlyList<double> a, IReadOnlyList<double> b, IReadOnlyList<double> c)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(c);
        if (a.Count != b.Count || a.Count != c.Count || a.Count == 0)
        {
            throw new ArgumentException($"Per-token quantities must have one value per token; got {a.Count}, {b.Count} and {c.Count}.");
        }
    }
}
