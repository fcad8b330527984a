using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Rlhf;

namespace InsideLLMs.Distributed.Grains.Rlhf;

/// <summary>A PPO run's spec as the maths takes it, and the messages the run and its model grains exchange, both ways.</summary>
public static class PpoSpecs
{
    /// <summary>Sample completions kept per iteration for the status (and the page's table).</summary>
    public const int SamplesPerIteration = 4;

    /// <exception cref="ArgumentException">A hyper-parameter out of range (named) or a missing source run.</exception>
    public static PpoOptions Options(PpoRunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (string.IsNullOrWhiteSpace(spec.PolicyRun) || string.IsNullOrWhiteSpace(spec.RewardRun))
        {
            throw new ArgumentException("A PPO run needs the run its policy starts from (policyRun: an sft or pretrain run) and the reward run that scores it (rewardRun).");
        }

        if (spec.CheckpointInterval < 1)
        {
            throw new ArgumentException($"PPO's CheckpointInterval must be at least 1; got {spec.CheckpointInterval}.");
        }

        return new PpoOptions
        {
            Iterations = spec.Iterations, Rollouts = spec.Rollouts, Epochs = spec.Epochs, MiniBatches = spec.MiniBatches,
            PolicyLearningRate = spec.PolicyLearningRate, ValueLearningRate = spec.ValueLearningRate, KlCoefficient = spec.KlCoefficient,
            KlTarget = spec.KlTarget, KlHorizon = spec.KlHorizon, MaxCompletionTokens = spec.MaxCompletionTokens, Seed = spec.Seed,
            Samples = Math.Min(SamplesPerIteration, spec.Rollouts), Threads = Math.Max(1, spec.Threads),
        }.Validate();
    }

    /// <summary>The objective a source run must have trained with to start this role's model.</summary>
    public static bool Suits(PpoRole role, ObjectiveKind objective) => role switch
    {
        PpoRole.Value or PpoRole.Reward => objective == ObjectiveKind.Reward,
        _ => objective is ObjectiveKind.Pretrain or ObjectiveKind.Sft,
    };

    public static PpoRowsMessage ToMessage(this PpoRows rows) => new(rows.Inputs, rows.Targets, rows.BatchSize, rows.BlockSize, rows.First, rows.Count);

    public static PpoRows ToRows(this PpoRowsMessage message) => new(message.Inputs, message.Targets, message.BatchSize, message.BlockSize, message.First, message.Count);

    public static PpoRolloutsMessage ToMessage(this PpoRollouts rollouts) =>
        new(rollouts.Instructions, rollouts.Texts, rollouts.Ended, rollouts.Rows.ToMessage(), rollouts.LogProbabilities);

    public static PpoRollouts ToRollouts(this PpoRolloutsMessage message) =>
        new(message.Instructions, message.Texts, message.Ended, message.Rows.ToRows(), message.LogProbabilities);

    public static PpoTokensMessage ToMessage(this PpoTokens tokens) => new(tokens.OldLogProbs, tokens.Advantages, tokens.OldValues, tokens.Returns);

    public static PpoTokens ToTokens(this PpoTokensMessage message) => new(message.OldLogProbs, message.Advantages, message.OldValues, message.Returns);

    public static PpoIterationView ToView(this PpoIteration i) => new(
        i.Iteration, i.MeanScore, i.MeanRewardedScore, i.MeanRuleScore, i.MeanKl, i.KlCoefficient, i.MeanReward, i.PolicyLoss, i.ValueLoss,
        i.ApproximateKl, i.ClipFraction, i.Entropy, i.ExplainedVariance, i.EndedShare, i.MeanTokens,
        i.Time.Generation.TotalSeconds, i.Time.Reward.TotalSeconds, i.Time.Reference.TotalSeconds, i.Time.Value.TotalSeconds, i.Time.Update.TotalSeconds, i.Time.Wall.TotalSeconds);

    public static Dictionary<string, (byte[] Data, long[] Shape)> ToWeights(this IReadOnlyList<NamedTensor> parameters) =>
        parameters.ToDictionary(p => p.Name, p => (p.Tensor.Data, p.Tensor.Shape), StringComparer.Ordinal);
}
