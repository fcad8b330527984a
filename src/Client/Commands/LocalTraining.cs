using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Training;

namespace InsideLLMs.Distributed.Client.Commands;

/// <summary>What the user asked of <c>train --local</c>: a preset, the shared training options, and the local-only ones.</summary>
internal sealed record LocalTrainingRequest(string Preset, TrainingChoices Choices, int? Threads, string? CheckpointPath, string? Resume);

/// <summary>
/// Turns a request into a ready trainer, or a <see cref="CliUsageException"/> naming what is wrong. A fresh run goes
/// through the same run spec as <c>train start</c> (one stage, one replica), so both read the options alike.
/// </summary>
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

    /// <summary>The spec of a local run: the preset's, with what the user set.</summary>
    internal static TrainingRunSpec Spec(LocalTrainingRequest request)
    {
        var preset = request.Preset switch
        {
            "synthetic" => TrainingPresets.Synthetic,
            "shakespeare-char" => TrainingPresets.ShakespeareChar(
                request.Choices.Corpus ?? throw new ArgumentException("The shakespeare-char preset needs --corpus PATH (a UTF-8 text file, e.g. nanoGPT's tinyshakespeare.txt).")),
            _ => throw new ArgumentException($"Unknown preset '{request.Preset}'. Presets: synthetic, shakespeare-char."),
        };
        return request.Choices.ApplyTo(TrainingRunSpecs.FromPreset(preset));
    }

    private static ReferenceTrainer Fresh(LocalTrainingRequest request)
    {
        var spec = Spec(request);
        TrainingRunSpecs.Model(spec, vocabularySize: 3).Validate(); // before building a dataset: a bad shape should not cost a tokenization pass
        var training = WithThreads(request, TrainingRunSpecs.Reference(spec)).Validate();
        var data = TrainingRunSpecs.LoadDataset(spec);
        return new ReferenceTrainer(TrainingRunSpecs.Model(spec, data), data, training);
    }

    private static ReferenceTrainer Resumed(LocalTrainingRequest request)
    {
        var header = Checkpoint.Read(request.Resume!).Header;
        var choices = request.Choices;
        if (choices.ChangesTheMaths)
        {
            throw new ArgumentException("A resumed run keeps its model, data and hyper-parameters; only --steps, --threads, intervals and --checkpoint may change.");
        }

        var text = header.Data.Kind == DatasetDescriptor.TextKind
            ? TextCorpus.FromFile(choices.Corpus ?? throw new ArgumentException($"This run trained on the text '{header.Data.TextName}': pass it again with --corpus PATH."))
            : null;
        var data = TokenDataset.FromDescriptor(header.Data, text);
        // The cosine keeps the length it was planned with, so asking for more steps continues at the final rate.
        var original = header.Training;
        var training = WithThreads(request, original with
        {
            DecaySteps = original.DecaySteps ?? original.Steps,
            Steps = choices.Steps ?? original.Steps,
            EvalInterval = choices.EvalInterval ?? original.EvalInterval,
            EvalBatches = choices.EvalBatches ?? original.EvalBatches,
            CheckpointInterval = choices.CheckpointInterval ?? original.CheckpointInterval,
        });
        if (training.Steps <= header.Step)
        {
            throw new ArgumentException($"The checkpoint is already at step {header.Step}; ask for more --steps than that.");
        }

        return ReferenceTrainer.Resume(request.Resume!, data, training.Validate());
    }

    private static TrainingOptions WithThreads(LocalTrainingRequest request, TrainingOptions options) =>
        options with { Threads = request.Threads ?? options.Threads };
}
