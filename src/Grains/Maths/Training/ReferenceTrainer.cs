using System.Diagnostics;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Pipeline;
using TorchSharp;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Maths.Training;

/// <summary>
/// The single-process trainer: the whole model in this thread, gradient accumulation over micro-batches, global
/// clipping, AdamW with warmup and cosine decay, periodic validation and checkpoints. Distributed training must
/// compute what this computes, step for step, and does so with the same code: this is one <see cref="StageWorker"/>
/// over the whole model and one <see cref="StepRule"/>, the one-stage, one-replica case of a distributed run.
/// </summary>
public sealed class ReferenceTrainer : IDisposable
{
    private readonly StageWorker _worker;
    private readonly StepRule _rule;
    private readonly ITrainingBatches _batches;

    /// <summary>A fresh model, initialised from <see cref="TrainingOptions.Seed"/>.</summary>
    /// <param name="data">The corpus: its vocabulary and, unless <paramref name="batches"/> is given, its windows.</param>
    /// <param name="batches">Other rows in the same vocabulary (SFT: an <see cref="InstructionDataset"/>).</param>
    public ReferenceTrainer(GptConfig config, TokenDataset data, TrainingOptions options, ITrainingBatches? batches = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        Data = data ?? throw new ArgumentNullException(nameof(data));
        Options = (options ?? throw new ArgumentNullException(nameof(options))).Validate();
        Config = config.Validate();
        if (config.VocabularySize != data.Vocabulary.Count)
        {
            throw new ArgumentException($"The model has {config.VocabularySize} token IDs but the corpus vocabulary has {data.Vocabulary.Count}.");
        }

        if (config.BlockSize != data.BlockSize)
        {
            throw new ArgumentException($"The model's context is {config.BlockSize} tokens but the dataset's windows are {data.BlockSize}.");
        }

        _batches = batches ?? data;
        if (_batches.BlockSize != config.BlockSize)
        {
            throw new ArgumentException($"The model's context is {config.BlockSize} tokens but the training rows are {_batches.BlockSize}.");
        }

        _rule = new StepRule(Options);
        _worker = new StageWorker(config, StageSpec.Whole(config), Options);
    }

    public GptConfig Config { get; }

    public TokenDataset Data { get; }

    public TrainingOptions Options { get; }

    public GptStage Model => _worker.Model;

    /// <summary>Steps completed; the next step to run has this 0-based index.</summary>
    public long Step { get; private set; }

    public double? LastLoss { get; private set; }

    /// <summary>Starts from given weights (a published model's, by name) instead of the seed's; the optimizer starts fresh.</summary>
    /// <exception cref="InvalidDataException">A parameter is missing or has another shape; nothing changes.</exception>
    public void LoadInitialParameters(IReadOnlyDictionary<string, (byte[] Data, long[] Shape)> parameters) => _worker.LoadInitialParameters(parameters);

    /// <summary>The whole model's parameters and optimizer state, as a stage worker saves them (<see cref="Restore"/> reads them back).</summary>
    public byte[] SaveState() => _worker.SaveState();

    /// <summary>
    /// Continues from a whole model's saved state (parameters and optimizer, as a stage worker saves them: a distributed
    /// run's stage states cut into one with <see cref="StageStateReshard"/>) after <paramref name="step"/> steps.
    /// </summary>
    /// <exception cref="InvalidDataException">The state belongs to another model; nothing changes.</exception>
    public void Restore(byte[] state, long step)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        _worker.LoadState(state);
        Step = step;
    }

    /// <summary>
    /// Continues a checkpointed run. The dataset must be the one the checkpoint was written with; <paramref name="options"/>
    /// may only change what does not alter the maths (steps, intervals, threads), otherwise the resumed run would
    /// silently compute something else.
    /// </summary>
    /// <exception cref="InvalidDataException">The checkpoint is damaged, or belongs to another model or dataset.</exception>
    public static ReferenceTrainer Resume(string checkpointPath, TokenDataset data, TrainingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        var checkpoint = Checkpoint.Read(checkpointPath);
        var header = checkpoint.Header;
        if (header.Data != data.Descriptor)
        {
            throw new InvalidDataException($"{checkpointPath} was trained on {header.Data}, not on {data.Descriptor}.");
        }

        if (!checkpoint.Vocabulary.SameAs(data.Vocabulary))
        {
            throw new InvalidDataException($"{checkpointPath} has a different vocabulary from this corpus.");
        }

        var resumed = options ?? header.Training;
        var mathsOf = (TrainingOptions o) => o with { Steps = 0, EvalInterval = 0, EvalBatches = null, CheckpointInterval = 0, Threads = 1, DecaySteps = o.DecaySteps ?? o.Steps };
        if (mathsOf(resumed) != mathsOf(header.Training))
        {
            throw new InvalidDataException(
                $"{checkpointPath} was trained with different hyper-parameters; only steps, intervals and threads may change on resume.");
        }

        var trainer = new ReferenceTrainer(header.Model, data, resumed);
        try
        {
            checkpoint.LoadParameters(trainer.Model);
            checkpoint.LoadOptimizer(trainer._worker);
        }
        catch
        {
            trainer.Dispose();
            throw;
        }

        trainer.Step = header.Step;
        trainer.LastLoss = header.LastLoss;
        return trainer;
    }

    /// <summary>Runs step <see cref="Step"/>: forward and backward over every micro-batch, clip, one AdamW update.</summary>
    public StepResult TrainStep()
    {
        torch.set_num_threads(Options.Threads);
        var started = Stopwatch.GetTimestamp();
        var step = Step;
        _worker.BeginStep();
        // Dropout draws from the global generator; seeding it from (seed, step) makes every step replayable on resume.
        torch.manual_seed(DeterministicRandom.Mix(Options.Seed, step, DropoutStream));
        var (lossSum, lossWeight) = (0.0, 0.0);
        for (var micro = 0; micro < Options.MicroBatches; micro++)
        {
            var batch = _batches.TrainBatch(Options.Seed, step, micro, replica: 0, Options.MicroBatches, Options.BatchSize, replicas: 1);
            var forward = _worker.Forward(micro, batch.Inputs, null, [batch.BatchSize, batch.BlockSize], batch.Targets, batch.StepTargetCount);
            (lossSum, lossWeight) = (lossSum + forward.Loss, lossWeight + forward.LossWeight);
            _worker.Backward(micro, outputGradient: null);
        }

        var decision = _rule.Decide(step, _worker.GradientSumOfSquares(countTiedCopy: true), lossSum, lossWeight);
        var layers = _worker.LayerGradientSumsOfSquares(countTiedCopy: true); // before the update clips
        var update = _worker.Update(decision.ClipCoefficient, decision.LearningRate);
        Step = step + 1;
        LastLoss = decision.Loss;
        var tokens = (long)Options.BatchSize * Options.MicroBatches * Config.BlockSize;
        return new StepResult(Step, decision.Loss, decision.LearningRate, decision.GradientNorm, tokens, Stopwatch.GetElapsedTime(started), layers, update);
    }

    /// <summary>Mean validation loss over every target that is not padding, in nats per token.</summary>
    public double Evaluate(int? maxBatches = null)
    {
        torch.set_num_threads(Options.Threads);
        var tally = new ValidationTally();
        foreach (var batch in _batches.ValidationBatches(Options.BatchSize, maxBatches ?? Options.EvalBatches))
        {
            var (_, _, lossSum, targets) = _worker.Evaluate(batch.Inputs, null, [batch.BatchSize, batch.BlockSize], batch.Targets);
            tally = tally.Add(lossSum, targets);
        }

        return tally.Mean;
    }

    public void SaveCheckpoint(string path) => Checkpoint.Save(
        path,
        new CheckpointHeader(Config, Options, Data.Descriptor, Step, LastLoss, DateTimeOffset.UtcNow),
        Data.Vocabulary,
        _worker);

    /// <summary>
    /// Trains until <see cref="TrainingOptions.Steps"/> steps are done, reporting every step; validates and saves
    /// checkpoints at the configured intervals and at the end.
    /// </summary>
    public TrainingSummary Run(IProgress<TrainingProgress>? progress = null, string? checkpointPath = null, CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        var firstStep = Step;
        long tokens = 0;
        var trainingTime = TimeSpan.Zero; // steps only: validation and checkpoints are not training throughput
        double? validation = null;
        var history = new List<(long Step, double Loss)>();
        while (Step < Options.Steps)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var result = TrainStep();
            tokens += result.Tokens;
            trainingTime += result.Duration;
            var last = Step == Options.Steps;
            if (last || (Options.EvalInterval > 0 && Step % Options.EvalInterval == 0))
            {
                validation = Evaluate();
                history.Add((Step, validation.Value));
            }

            if (checkpointPath is not null && (last || (Options.CheckpointInterval > 0 && Step % Options.CheckpointInterval == 0)))
            {
                SaveCheckpoint(checkpointPath);
            }

            var elapsed = Stopwatch.GetElapsedTime(started);
            var perStep = elapsed / (Step - firstStep);
            progress?.Report(new TrainingProgress(
                Step, Options.Steps, result.Loss, validation, result.LearningRate,
                tokens / Math.Max(trainingTime.TotalSeconds, 1e-9), elapsed, perStep * (Options.Steps - Step)));
        }

        var total = Stopwatch.GetElapsedTime(started);
        var tokensPerSecond = tokens / Math.Max(trainingTime.TotalSeconds, 1e-9);
        return new TrainingSummary(
            Step, LastLoss ?? double.NaN, validation, Data.EntropyFloor, tokens, total, tokensPerSecond,
            tokensPerSecond * Config.TrainingFlopsPerToken / 1e9, history);
    }

    private const long DropoutStream = 0x64726F70; // "drop": keeps dropout seeds apart from the data's

    public void Dispose() => _worker.Dispose();
}
