using System.Diagnostics;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Objectives;

namespace InsideLLMs.Distributed.Maths.Rlhf;

/// <summary>
/// PPO's four models as one iteration needs them, wherever they live: in this process (<see cref="PpoTrainer"/>) or as
/// grains on different silos. Calls that do not depend on each other may run at once.
/// </summary>
public interface IPpoModels
{
    /// <summary>The policy: iteration <paramref name="iteration"/>'s completions and their log-probabilities (<see cref="PpoModels.Sample"/>).</summary>
    Task<PpoRollouts> SampleAsync(int iteration);

    /// <summary>The frozen reference: its log-probabilities of the same tokens (<see cref="PpoModels.LogProbabilities"/>).</summary>
    Task<float[]> ReferenceLogProbabilitiesAsync(PpoRows rows);

    /// <summary>The value model: its value at every position (<see cref="PpoModels.Values"/>).</summary>
    Task<float[]> ValuesAsync(PpoRows rows);

    /// <summary>The reward model: the raw score of each completion (its text) of each instruction.</summary>
    Task<double[]> ScoresAsync(IReadOnlyList<string> instructions, IReadOnlyList<string> texts);

    /// <summary>The policy's minibatch steps (<see cref="PpoLearner.Update"/>).</summary>
    Task<IReadOnlyList<PpoUpdateStatistics>> UpdatePolicyAsync(PpoRows rows, PpoTokens tokens, IReadOnlyList<int[]> minibatches);

    /// <summary>The value model's minibatch steps (<see cref="PpoLearner.Update"/>).</summary>
    Task<IReadOnlyList<PpoUpdateStatistics>> UpdateValueAsync(PpoRows rows, PpoTokens tokens, IReadOnlyList<int[]> minibatches);
}

/// <summary>
/// One PPO iteration over <see cref="IPpoModels"/>, the same code in one process and across a cluster: sample, then the
/// reference's log-probabilities, the values and the scores (at once), then per completion the KL-penalised token rewards
/// and GAE, advantages whitened over the batch, then the policy's and the value model's epochs of minibatch steps (at once:
/// neither reads the other), then the adaptive KL coefficient.
/// </summary>
public static class PpoLoop
{
    private const long ShuffleStream = 0x73687566; // "shuf"

    /// <param name="klCoefficient">β for this iteration's rewards; the result's <see cref="PpoIteration.KlCoefficient"/> is the next iteration's.</param>
    public static async Task<PpoIteration> StepAsync(IPpoModels models, PpoOptions options, ScoreNormalization normalization, int iteration, double klCoefficient)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(normalization);
        var wall = Stopwatch.StartNew();
        var clock = Stopwatch.StartNew();
        var rollouts = await models.SampleAsync(iteration);
        var generation = clock.Elapsed;
        var batch = rollouts.Rows;
        if (batch.BatchSize != options.Rollouts || rollouts.LogProbabilities.Length != batch.Cells)
        {
            throw new InvalidOperationException($"The policy returned {batch.BatchSize} rollouts of {rollouts.LogProbabilities.Length / Math.Max(1, batch.BlockSize)} rows; {options.Rollouts} were asked for.");
        }

        var reference = Timed(() => models.ReferenceLogProbabilitiesAsync(batch));
        var values = Timed(() => models.ValuesAsync(batch));
        var scored = Timed(() => models.ScoresAsync(rollouts.Instructions, rollouts.Texts));
        await Task.WhenAll(reference, values, scored);
        var (referenceLogProbs, referenceTime) = await reference;
        var (oldValues, valueTime) = await values;
        var (raw, rewardTime) = await scored;

        var normalized = raw.Select(normalization.Apply).ToArray();
        var scores = Enumerable.Range(0, raw.Length).Select(i => PpoMath.Score(normalized[i], rollouts.Ended[i], options.ScoreClip, options.MissingEndPenalty)).ToArray();
        var oldLogProbs = rollouts.LogProbabilities;
        var kls = new double[batch.BatchSize];
        var gae = new (double[] Advantages, double[] Returns)[batch.BatchSize];
        for (var row = 0; row < batch.BatchSize; row++)
        {
            var positions = batch.Positions(row);
            var logp = positions.Select(p => (double)oldLogProbs[p]).ToArray();
            var refp = positions.Select(p => (double)referenceLogProbs[p]).ToArray();
            kls[row] = logp.Zip(refp, (a, b) => a - b).Sum();
            var rewards = PpoMath.TokenRewards(logp, refp, scores[row], klCoefficient);
            gae[row] = PpoMath.Gae(rewards, [.. positions.Select(p => (double)oldValues[p])], options.Gamma, options.Lambda);
        }

        var whitened = PpoMath.Whiten([.. gae.Select(g => (IReadOnlyList<double>)g.Advantages)]);
        var advantages = new float[batch.Cells];
        var returns = new float[batch.Cells];
        for (var row = 0; row < batch.BatchSize; row++)
        {
            var positions = batch.Positions(row);
            for (var i = 0; i < positions.Length; i++)
            {
                advantages[positions[i]] = (float)whitened[row][i];
                returns[positions[i]] = (float)gae[row].Returns[i];
            }
        }

        var actions = Enumerable.Range(0, batch.BatchSize).SelectMany(batch.Positions).ToArray();
        var explained = PpoMath.ExplainedVariance([.. actions.Select(p => (double)oldValues[p])], [.. actions.Select(p => (double)returns[p])]);

        clock.Restart();
        var tokens = new PpoTokens(oldLogProbs, advantages, oldValues, returns);
        var minibatches = MiniBatches(options, iteration);
        var policyUpdate = models.UpdatePolicyAsync(batch, tokens, minibatches);
        var valueUpdate = models.UpdateValueAsync(batch, tokens, minibatches);
        await Task.WhenAll(policyUpdate, valueUpdate);
        var (policy, value) = (await policyUpdate, await valueUpdate);
        var updateTime = clock.Elapsed;

        var meanKl = kls.Average();
        var next = options.KlTarget is { } target ? PpoMath.AdaptKl(klCoefficient, meanKl, target, options.KlHorizon, batch.BatchSize) : klCoefficient;
        var rule = Enumerable.Range(0, batch.BatchSize).Select(i => PreferenceRule.Default.Score(rollouts.Instructions[i], rollouts.Texts[i])).ToArray();
        return new PpoIteration(
            iteration + 1,
            normalized.Average(),
            scores.Average(),
            rule.Average(),
            meanKl,
            next,
            Enumerable.Range(0, batch.BatchSize).Average(i => scores[i] - (klCoefficient * kls[i])),
            policy.Average(s => s.Loss), value.Average(s => s.Loss), policy.Average(s => s.ApproximateKl), policy.Average(s => s.ClipFraction), policy.Average(s => s.Entropy),
            explained,
            rollouts.Ended.Count(e => e) / (double)batch.BatchSize,
            batch.Count.Average(),
            new PpoTimes(generation, rewardTime, referenceTime, valueTime, updateTime, wall.Elapsed),
            [.. Enumerable.Range(0, Math.Min(options.Samples, batch.BatchSize)).Select(i => new PpoSample(rollouts.Instructions[i], rollouts.Texts[i], rollouts.Ended[i], normalized[i], rule[i], kls[i]))]);
    }

    /// <summary>Iteration <paramref name="iteration"/>'s minibatches, epoch after epoch: the rollouts shuffled by (seed, iteration, epoch) and cut into <see cref="PpoOptions.MiniBatches"/>.</summary>
    public static IReadOnlyList<int[]> MiniBatches(PpoOptions options, int iteration)
    {
        ArgumentNullException.ThrowIfNull(options);
        var size = (options.Rollouts + options.MiniBatches - 1) / options.MiniBatches;
        var result = new List<int[]>();
        for (var epoch = 0; epoch < options.Epochs; epoch++)
        {
            var random = new DeterministicRandom(DeterministicRandom.Mix(options.Seed, ShuffleStream, iteration, epoch));
            var order = Enumerable.Range(0, options.Rollouts).ToArray();
            for (var i = order.Length - 1; i > 0; i--)
            {
                var j = (int)(random.NextUInt64() % (ulong)(i + 1));
                (order[i], order[j]) = (order[j], order[i]);
            }

            for (var first = 0; first < order.Length; first += size)
            {
                result.Add(order[first..Math.Min(order.Length, first + size)]);
            }
        }

        return result;
    }

    /// <summary>The time from the call to the result: a model in this process computes within the call, a grain after it.</summary>
    private static async Task<(T Result, TimeSpan Time)> Timed<T>(Func<Task<T>> work)
    {
        var clock = Stopwatch.StartNew();
        var result = await work();
        return (result, clock.Elapsed);
    }
}

/// <summary>
/// What one PPO iteration did. Scores: the reward model's normalised score of the completions (<paramref name="MeanScore"/>),
/// the score PPO rewards (clipped, less the missing-end penalty), and the preference rule's true score; KL: the mean over
/// completions of Σ (log π − log π_ref) over their tokens; <paramref name="MeanReward"/>: score − β KL with this
/// iteration's β; <paramref name="KlCoefficient"/>: β for the next iteration. The update's losses and statistics are
/// means over its minibatches.
/// </summary>
public sealed record PpoIteration(
    int Iteration,
    double MeanScore,
    double MeanRewardedScore,
    double MeanRuleScore,
    double MeanKl,
    double KlCoefficient,
    double MeanReward,
    double PolicyLoss,
    double ValueLoss,
    double ApproximateKl,
    double ClipFraction,
    double Entropy,
    double ExplainedVariance,
    double EndedShare,
    double MeanTokens,
    PpoTimes Time,
    IReadOnlyList<PpoSample> Samples);

/// <summary>
/// Where an iteration's time went: sampling, the reward model, the reference's log-probabilities, the values (these three
/// may overlap), the updates (policy and value at once), and the whole iteration.
/// </summary>
public sealed record PpoTimes(TimeSpan Generation, TimeSpan Reward, TimeSpan Reference, TimeSpan Value, TimeSpan Update, TimeSpan Wall);

/// <summary>One sampled completion: its prompt, text, whether it ended, the reward model's normalised score, the rule's score, its KL to the reference.</summary>
public sealed record PpoSample(string Prompt, string Completion, bool Ended, double Score, double RuleScore, double Kl);
