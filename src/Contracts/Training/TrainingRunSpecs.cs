using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Pipeline;
using InsideLLMs.Distributed.Maths.Tokenization;
using InsideLLMs.Distributed.Maths.Training;

namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>
/// A run spec in the maths' terms: its model, its optimisation, its schedule, and the checks it must pass before
/// anything starts. The silo, the grains and the client all go through here, so a spec means the same thing everywhere.
/// </summary>
public static class TrainingRunSpecs
{
    public const string PretrainObjective = "pretrain";

    public const string SftObjective = "sft";

    /// <summary>A reward model: a score head trained on rankings (Bradley-Terry over every pair of a ranking).</summary>
    public const string RewardObjective = "reward";

    /// <summary>
    /// A PPO run's policy and value model on the stage grains: the objectives of its updates, which only a PPO run sets
    /// (<see cref="Validate"/> refuses them for a training run).
    /// </summary>
    public const string PpoPolicyObjective = "ppo-policy";

    public const string PpoValueObjective = "ppo-value";

    /// <summary>The objectives a spec may name, as it names them.</summary>
    public static IReadOnlyList<string> Objectives { get; } = [PretrainObjective, SftObjective, RewardObjective];

    /// <summary>The objective a spec names.</summary>
    /// <exception cref="ArgumentException">An unknown name.</exception>
    public static ObjectiveKind Objective(TrainingRunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return (spec.Objective ?? "").Trim().ToLowerInvariant() switch
        {
            PretrainObjective => ObjectiveKind.Pretrain,
            SftObjective => ObjectiveKind.Sft,
            RewardObjective => ObjectiveKind.Reward,
            PpoPolicyObjective => ObjectiveKind.PpoPolicy,
            PpoValueObjective => ObjectiveKind.PpoValue,
            _ => throw new ArgumentException($"Unknown objective '{spec.Objective}'. Objectives: {string.Join(", ", Objectives)}."),
        };
    }

    /// <summary>Where an sft run's instructions come from: the spec's, or the built-in corpus's.</summary>
    public static string InstructionSource(TrainingRunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return spec.Instructions ?? TrainingPreset.SyntheticCorpusName;
    }

    /// <summary>A reward run's rankings: those stored on the cluster, taken when it starts.</summary>
    public const string ClusterRankings = "cluster";

    /// <summary>Where a reward run's rankings come from: the spec's, or the built-in ones.</summary>
    public static string RankingSource(TrainingRunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return spec.Rankings ?? TrainingPreset.SyntheticCorpusName;
    }

    /// <summary>The spec of a preset trained in one process: one stage, one replica, the preset's numbers.</summary>
    public static TrainingRunSpec FromPreset(TrainingPreset preset)
    {
        ArgumentNullException.ThrowIfNull(preset);
        var (model, training) = (preset.Model, preset.Training);
        return new TrainingRunSpec
        {
            Corpus = preset.Corpus,
            Encoding = preset.Encoding,
            Layers = model.LayerCount,
            Heads = model.HeadCount,
            Width = model.EmbeddingSize,
            Context = model.BlockSize,
            Dropout = model.Dropout,
            Steps = training.Steps,
            BatchSize = training.BatchSize,
            MicroBatches = training.MicroBatches,
            LearningRate = training.LearningRate,
            MinLearningRate = training.MinLearningRate,
            WarmupSteps = training.WarmupSteps,
            WeightDecay = training.WeightDecay,
            Beta1 = training.Beta1,
            Beta2 = training.Beta2,
            GradClip = training.GradClip,
            Seed = training.Seed,
            Stages = 1,
            Replicas = 1,
            CheckpointInterval = training.CheckpointInterval,
            EvalInterval = training.EvalInterval,
            EvalBatches = training.EvalBatches,
        };
    }

    public static GptConfig Model(TrainingRunSpec spec, int vocabularySize)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return new()
        {
            VocabularySize = vocabularySize,
            BlockSize = spec.Context,
            LayerCount = spec.Layers,
            HeadCount = spec.Heads,
            EmbeddingSize = spec.Width,
            Dropout = spec.Dropout,
        };
    }

    /// <summary>The model config with the corpus's vocabulary, as every stage and the reference trainer build it.</summary>
    public static GptConfig Model(TrainingRunSpec spec, TokenDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return Model(spec, data.Vocabulary.Count);
    }

    /// <summary>
    /// The reference trainer's options for the same global batch: R replicas x M micro-batches of B rows become
    /// M x R micro-batches of B rows in one process (the dataset numbers rows so both see the same rows).
    /// </summary>
    public static TrainingOptions Reference(TrainingRunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return new()
        {
            Steps = spec.Steps,
            BatchSize = spec.BatchSize,
            MicroBatches = spec.MicroBatches * spec.Replicas,
            LearningRate = spec.LearningRate,
            MinLearningRate = spec.MinLearningRate,
            WarmupSteps = spec.WarmupSteps,
            WeightDecay = spec.WeightDecay,
            Beta1 = spec.Beta1,
            Beta2 = spec.Beta2,
            GradClip = spec.GradClip,
            Seed = spec.Seed,
            EvalInterval = spec.EvalInterval,
            EvalBatches = spec.EvalBatches,
            CheckpointInterval = spec.CheckpointInterval,
            Objective = Objective(spec),
            RankingCompletions = spec.RankingCompletions,
        };
    }

    public static PipelineScheduleKind Schedule(TrainingRunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return spec.Schedule.Trim().ToLowerInvariant() switch
        {
            "gpipe" => PipelineScheduleKind.GPipe,
            "1f1b" => PipelineScheduleKind.OneFOneB,
            _ => throw new ArgumentException($"Unknown pipeline schedule '{spec.Schedule}'. Schedules: gpipe, 1f1b."),
        };
    }

    /// <summary>The dataset of the spec's corpus, encoding, context and seed.</summary>
    public static TokenDataset LoadDataset(TrainingRunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return TrainingPreset.LoadDataset(spec.Corpus, spec.Encoding, spec.Context, spec.Seed);
    }

    /// <summary>
    /// The checks a run on the cluster must pass: throws <see cref="ArgumentException"/> naming the first problem (an
    /// impossible split, a bad shape or hyper-parameter, an unknown schedule or encoding, dropout). The corpus is not
    /// opened here: only a silo can look for it.
    /// </summary>
    public static TrainingRunSpec Validate(TrainingRunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Replicas < 1)
        {
            throw new ArgumentException($"A run needs at least one data-parallel replica; got {spec.Replicas}.");
        }

        if (spec.MicroBatches < 1)
        {
            throw new ArgumentException($"Each replica needs at least one micro-batch per step; got {spec.MicroBatches}.");
        }

        if (spec.Stages < 1)
        {
            throw new ArgumentException($"A pipeline needs at least one stage; got {spec.Stages}.");
        }

        if (spec.Dropout != 0)
        {
            // Dropout draws from libtorch's global generator, which stages on shared compute threads would race for;
            // the distributed run would stop being reproducible, and its recovery would stop being exact.
            throw new ArgumentException("Distributed runs train with dropout 0 (masks drawn by concurrent stages would not be reproducible).");
        }

        Schedule(spec);
        var model = Model(spec, vocabularySize: 3).Validate();
        StageSpec.Partition(model, spec.Stages);
        Reference(spec).Validate();
        TokenEncodings.Get(spec.Encoding);
        if (spec.CheckpointInterval < 0 || spec.EvalInterval < 0)
        {
            throw new ArgumentException("Checkpoint and evaluation intervals cannot be negative.");
        }

        var objective = Objective(spec);
        if (objective is ObjectiveKind.PpoPolicy or ObjectiveKind.PpoValue)
        {
            throw new ArgumentException($"Objective '{spec.Objective}' is a PPO run's update: start a PPO run (rlhf ppo start) instead. Objectives: {string.Join(", ", Objectives)}.");
        }

        if (spec.InitFrom is { } version && !InferenceNames.IsValidVersionName(version))
        {
            throw new ArgumentException($"initFrom '{version}' is not a version name: use 1 to 64 letters, digits, '.', '-' or '_' (a version published with: versions publish NAME --run ID).");
        }

        if (objective == ObjectiveKind.Sft && spec.InitFrom is null)
        {
            throw new ArgumentException("An sft run fine-tunes a published model: name the version its weights start from with initFrom (train start --init-from VERSION).");
        }

        if (objective == ObjectiveKind.Reward && spec.InitFrom is null)
        {
            throw new ArgumentException("A reward run starts from a published model (the SFT policy's weights, with a fresh score head): name the version with initFrom (train start --init-from VERSION).");
        }

        if (spec.Rankings is { } rankings)
        {
            if (objective != ObjectiveKind.Reward)
            {
                throw new ArgumentException($"rankings '{rankings}' are read only by reward runs; this run's objective is {spec.Objective} (set objective to reward, or leave rankings out).");
            }

            if (rankings != TrainingPreset.SyntheticCorpusName && rankings != ClusterRankings)
            {
                throw new ArgumentException(
                    $"Unknown rankings '{rankings}': '{ClusterRankings}' (the rankings stored on this cluster, taken when the run starts) or '{TrainingPreset.SyntheticCorpusName}' (the built-in ones).");
            }
        }

        if (spec.ResumeFrom is { } source)
        {
            if (!InferenceNames.IsValidVersionName(source))
            {
                throw new ArgumentException($"resumeFrom '{source}' is not a run id: use 1 to 64 letters, digits, '.', '-' or '_'.");
            }

            if (spec.InitFrom is not null)
            {
                throw new ArgumentException("A run continues either from a version's weights (initFrom) or from another run's checkpoint (resumeFrom), not both.");
            }
        }
        else if (spec.ResumeStep is not null)
        {
            throw new ArgumentException("resumeStep pins the checkpoint of resumeFrom; name the run with resumeFrom too.");
        }

        if (spec.InitRevision is not null && spec.InitFrom is null)
        {
            throw new ArgumentException("initRevision pins the revision of initFrom; name the version with initFrom too.");
        }

        if (spec.Instructions is { } instructions)
        {
            if (objective != ObjectiveKind.Sft)
            {
                throw new ArgumentException($"instructions '{instructions}' are read only by sft runs; this run's objective is {spec.Objective} (set objective to sft, or leave instructions out).");
            }

            if (instructions.Trim().Length == 0)
            {
                throw new ArgumentException("instructions must be 'synthetic' or a JSON Lines file in the silos' data directory; got an empty name.");
            }
        }

        return spec;
    }
}
