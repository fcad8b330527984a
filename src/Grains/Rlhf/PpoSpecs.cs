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

        if (spec.Stages < 1 || spec.Replicas < 1 || spec.MicroBatches < 1)
        {
            throw new ArgumentException($"PPO's updates need at least one stage, replica and micro-batch; got stages {spec.Stages}, replicas {spec.Replicas}, microBatches {spec.MicroBatches}.");
        }

        if (spec.MiniBatches >= 1 && spec.Rollouts >= spec.MiniBatches && spec.Rollouts % spec.MiniBatches == 0
            && (spec.Rollouts / spec.MiniBatches) % (spec.Replicas * spec.MicroBatches) != 0)
        {
            throw new ArgumentException(
                $"A minibatch of {spec.Rollouts / spec.MiniBatches} rollouts (rollouts {spec.Rollouts} / miniBatches {spec.MiniBatches}) cannot be cut into replicas {spec.Replicas} x microBatches {spec.MicroBatches} equal micro-batches.");
        }

        var options = new PpoOptions
        {
            Iterations = spec.Iterations, Rollouts = spec.Rollouts, Epochs = spec.Epochs, MiniBatches = spec.MiniBatches,
            PolicyLearningRate = spec.PolicyLearningRate, ValueLearningRate = spec.ValueLearningRate, KlCoefficient = spec.KlCoefficient,
            KlTarget = spec.KlTarget, KlHorizon = spec.KlHorizon, MaxCompletionTokens = spec.MaxCompletionTokens, Seed = spec.Seed,
            Samples = Math.Min(SamplesPerIteration, spec.Rollouts), Threads = Math.Max(1, spec.Threads),
        }.Validate();
        if (options.Rollouts % options.MiniBatches != 0 && spec.Replicas * spec.MicroBatches > 1)
        {
            throw new ArgumentException($"Split over replicas or micro-batches, PPO's minibatches must be equal: rollouts {spec.Rollouts} must divide by miniBatches {spec.MiniBatches}.");
        }

        return options;
    }

    /// <summary>
    /// The training spec of the policy's or the value model's stage grains: the source run's model and corpus, the PPO
    /// objective, the spec's layout, a minibatch's rows over Replicas × MicroBatches, and the optimisation
    /// <see cref="PpoLearner"/> runs in one process (AdamW at a constant rate, no weight decay, PPO's gradient clip). The
    /// PPO run drives its steps and checkpoints; nothing else reads its data.
    /// </summary>
    public static TrainingRunSpec EngineSpec(PpoRunSpec spec, PpoRole role, TrainingRunSpec source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var options = Options(spec);
        var rate = role == PpoRole.Policy ? options.PolicyLearningRate : options.ValueLearningRate;
        var rows = (options.Rollouts + options.MiniBatches - 1) / options.MiniBatches;
        var defaults = new Maths.Training.TrainingOptions();
        var engine = source with
        {
            Objective = role switch
            {
                PpoRole.Policy => TrainingRunSpecs.PpoPolicyObjective,
                PpoRole.Value => TrainingRunSpecs.PpoValueObjective,
                _ => throw new ArgumentException($"Only the policy and the value model train; not the {role.ToString().ToLowerInvariant()}."),
            },
            Stages = spec.Stages, Replicas = spec.Replicas, MicroBatches = spec.MicroBatches, Schedule = "1f1b",
            BatchSize = Math.Max(1, rows / (spec.Replicas * spec.MicroBatches)),
            Steps = (int)Math.Min(int.MaxValue, options.Iterations * StepsPerIteration(options)),
            LearningRate = rate, MinLearningRate = rate, WarmupSteps = 0, WeightDecay = 0, Beta1 = defaults.Beta1, Beta2 = defaults.Beta2,
            GradClip = options.GradClip, CheckpointInterval = 0, EvalInterval = 0, EvalBatches = null,
            InitFrom = null, InitRevision = null, ResumeFrom = null, ResumeStep = null, Rankings = null, Instructions = null,
        };
        var model = TrainingRunSpecs.Model(engine, vocabularySize: 3);
        if (spec.Stages > model.LayerCount)
        {
            throw new ArgumentException($"PPO's stages {spec.Stages} exceed the model's {model.LayerCount} layers.");
        }

        return engine;
    }

    /// <summary>Optimizer steps per PPO iteration: one per minibatch of every epoch.</summary>
    public static long StepsPerIteration(PpoOptions options) => PpoLoop.MiniBatches(options, 0).Count;

    /// <summary>The objective a source run must have trained with to start this role's model.</summary>
    public static bool Suits(PpoRole role, ObjectiveKind objective) => role switch
    {
        PpoRole.Value or PpoRole.Reward => objective == ObjectiveKind.Reward,
        _ => objective is ObjectiveKind.Pretrain or ObjectiveKind.Sft,
    };

    public static PpoRowsMessage ToMessage(this PpoRows rows) => new(rows.Inputs, rows.Targets, rows.BatchSize, rows.BlockSize, rows.First, rows.Count);

    public static PpoRows ToRows(this PpoRowsMessage message) => new(message.Inputs, message.Targets, message.BatchSize, message.BlockSize, message.First, message.Count);

    public static PpoTokensMessage ToMessage(this PpoTokens tokens) => new(tokens.OldLogProbs, tokens.Advantages, tokens.OldValues, tokens.Returns);

    public static PpoTokens ToTokens(this PpoTokensMessage message) => new(message.OldLogProbs, message.Advantages, message.OldValues, message.Returns);

    public static PpoIterationView ToView(this PpoIteration i) => new(
        i.Iteration, i.MeanScore, i.MeanRewardedScore, i.MeanRuleScore, i.MeanKl, i.KlCoefficient, i.MeanReward, i.PolicyLoss, i.ValueLoss,
        i.ApproximateKl, i.ClipFraction, i.Entropy, i.ExplainedVariance, i.EndedShare, i.MeanTokens,
        i.Time.Generation.TotalSeconds, i.Time.Reward.TotalSeconds, i.Time.Reference.TotalSeconds, i.Time.Value.TotalSeconds, i.Time.Update.TotalSeconds, i.Time.Wall.TotalSeconds);

    public static Dictionary<string, (byte[] Data, long[] Shape)> ToWeights(this IReadOnlyList<NamedTensor> parameters) =>
        parameters.ToDictionary(p => p.Name, p => (p.Tensor.Data, p.Tensor.Shape), StringComparer.Ordinal);
}
