using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Training;

namespace InsideLLMs.Distributed.Client.Commands;

/// <summary>What the user asked of <c>train --local</c>; null means "the preset's value" (or the checkpoint's, on resume).</summary>
internal sealed record LocalTrainingRequest(
    string Preset,
    string? Corpus,
    string? Encoding,
    int? Steps,
    int? BatchSize,
    int? MicroBatches,
    double? LearningRate,
    double? MinLearningRate,
    int? Warmup,
    int? Layers,
    int? Heads,
    int? Width,
    int? Context,
    double? Dropout,
    long? Seed,
    int? Threads,
    int? EvalInterval,
    int? EvalBatches,
    string? Checkpoint,
    int? CheckpointInterval,
    string? Resume);

/// <summary>Turns a request into a ready trainer, or a <see cref="CliUsageException"/> naming what is wrong.</summary>
internal static class LocalTraining
{
    public static ReferenceTrainer Prepare(LocalTrainingRequest request)
    {
        try
        {
            return request.Resume is null ? Fresh(request) : Resumed(request);
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
        {
            throw new CliUsageException(e.Message, e);
        }
    }

    private static ReferenceTrainer Fresh(LocalTrainingRequest request)
    {
        var preset = request.Preset switch
        {
            "synthetic" => TrainingPresets.Synthetic,
            "shakespeare-char" => TrainingPresets.ShakespeareChar(
                request.Corpus ?? throw new ArgumentException("The shakespeare-char preset needs --corpus PATH (a UTF-8 text file, e.g. nanoGPT's tinyshakespeare.txt).")),
            _ => throw new ArgumentException($"Unknown preset '{request.Preset}'. Presets: synthetic, shakespeare-char."),
        };
        var model = preset.Model with
        {
            LayerCount = request.Layers ?? preset.Model.LayerCount,
            HeadCount = request.Heads ?? preset.Model.HeadCount,
            EmbeddingSize = request.Width ?? preset.Model.EmbeddingSize,
            BlockSize = request.Context ?? preset.Model.BlockSize,
            Dropout = request.Dropout ?? preset.Model.Dropout,
        };
        model.Validate(); // before building a dataset: a bad shape should not cost a tokenization pass
        var training = ApplyRun(request, preset.Training with
        {
            BatchSize = request.BatchSize ?? preset.Training.BatchSize,
            MicroBatches = request.MicroBatches ?? preset.Training.MicroBatches,
            LearningRate = request.LearningRate ?? preset.Training.LearningRate,
            MinLearningRate = request.MinLearningRate ?? Math.Min(preset.Training.MinLearningRate, request.LearningRate ?? double.MaxValue),
            WarmupSteps = request.Warmup ?? preset.Training.WarmupSteps,
            Seed = request.Seed ?? preset.Training.Seed,
        });
        training.Validate();
        var loaded = (preset with
        {
            Corpus = request.Corpus ?? preset.Corpus,
            Encoding = request.Encoding ?? preset.Encoding,
            Model = model,
            Training = training,
        }).Load();
        return new ReferenceTrainer(loaded.Model, loaded.Data, training);
    }

    private static ReferenceTrainer Resumed(LocalTrainingRequest request)
    {
        var header = Checkpoint.Read(request.Resume!).Header;
        var mathsChanges = new object?[]
        {
            request.Encoding, request.BatchSize, request.MicroBatches, request.LearningRate, request.MinLearningRate, request.Warmup,
            request.Layers, request.Heads, request.Width, request.Context, request.Dropout, request.Seed,
        };
        if (mathsChanges.Any(value => value is not null))
        {
            throw new ArgumentException("A resumed run keeps its model, data and hyper-parameters; only --steps, --threads, intervals and --checkpoint may change.");
        }

        var text = header.Data.Kind == DatasetDescriptor.TextKind
            ? TextCorpus.FromFile(request.Corpus ?? throw new ArgumentException($"This run trained on the text '{header.Data.TextName}': pass it again with --corpus PATH."))
            : null;
        var data = TokenDataset.FromDescriptor(header.Data, text);
        // The cosine keeps the length it was planned with, so asking for more steps continues at the final rate.
        var original = header.Training with { DecaySteps = header.Training.DecaySteps ?? header.Training.Steps };
        var training = ApplyRun(request, original with { Steps = request.Steps ?? original.Steps });
        if (training.Steps <= header.Step)
        {
            throw new ArgumentException($"The checkpoint is already at step {header.Step}; ask for more --steps than that.");
        }

        return ReferenceTrainer.Resume(request.Resume!, data, training.Validate());
    }

    private static TrainingOptions ApplyRun(LocalTrainingRequest request, TrainingOptions options) => options with
    {
        Steps = request.Steps ?? options.Steps,
        Threads = request.Threads ?? options.Threads,
        EvalInterval = request.EvalInterval ?? options.EvalInterval,
        EvalBatches = request.EvalBatches ?? options.EvalBatches,
        CheckpointInterval = request.CheckpointInterval ?? options.CheckpointInterval,
    };
}
