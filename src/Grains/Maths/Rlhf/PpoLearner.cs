using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Pipeline;
using InsideLLMs.Distributed.Maths.Training;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Maths.Rlhf;

/// <summary>
/// A model PPO trains, the policy (<see cref="PpoPolicyLoss"/>) or the value model (<see cref="PpoValueLoss"/>): a
/// <see cref="StageWorker"/> over the whole model, with AdamW at a constant learning rate, no weight decay and global
/// gradient clipping, one optimizer step per minibatch.
/// </summary>
public sealed class PpoLearner : IDisposable
{
    private const int StateVersion = 1;

    private readonly StageWorker _worker;
    private readonly StepRule _rule;

    /// <param name="weights">The starting weights: the SFT model's for the policy, the reward model's for the value model.</param>
    public PpoLearner(GptConfig config, ObjectiveKind objective, PpoOptions options, IReadOnlyDictionary<string, (byte[] Data, long[] Shape)> weights)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(weights);
        if (objective is not (ObjectiveKind.PpoPolicy or ObjectiveKind.PpoValue))
        {
            throw new ArgumentException($"A PPO learner trains the policy or the value model, not with objective {objective}.");
        }

        var rate = objective == ObjectiveKind.PpoPolicy ? options.PolicyLearningRate : options.ValueLearningRate;
        var training = new TrainingOptions
        {
            Objective = objective, LearningRate = rate, MinLearningRate = rate, WarmupSteps = 0, Steps = int.MaxValue, DecaySteps = int.MaxValue,
            WeightDecay = 0, GradClip = options.GradClip, EvalInterval = 0, BatchSize = options.Rollouts, Seed = options.Seed, Threads = options.Threads,
        };
        _rule = new StepRule(training);
        _worker = new StageWorker(config, StageSpec.Whole(config), training);
        try
        {
            _worker.LoadInitialParameters(weights);
        }
        catch
        {
            _worker.Dispose();
            throw;
        }
    }

    public GptStage Model => _worker.Model;

    public ObjectiveKind Objective => _worker.Objective;

    /// <summary>Optimizer steps taken.</summary>
    public long Steps { get; private set; }

    /// <summary>
    /// One optimizer step per minibatch, in order: each the rows it lists of <paramref name="rows"/> with their slice of
    /// <paramref name="tokens"/>. Returns each step's loss (the mean over its completion tokens) and, for the policy, the
    /// share of tokens where the clip binds, the approximate KL to the sampling policy and the entropy, measured on the
    /// weights the step starts from.
    /// </summary>
    public IReadOnlyList<PpoUpdateStatistics> Update(PpoRows rows, PpoTokens tokens, IReadOnlyList<int[]> minibatches)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(minibatches);
        var results = new List<PpoUpdateStatistics>(minibatches.Count);
        foreach (var minibatch in minibatches)
        {
            var mini = rows.Take(minibatch);
            var ppo = rows.Take(tokens, minibatch);
            _worker.BeginStep();
            var forward = _worker.Forward(0, mini.Inputs, null, mini.Shape, mini.Targets, mini.Actions, ppo);
            _worker.Backward(0, null);
            var decision = _rule.Decide(Steps, _worker.GradientSumOfSquares(countTiedCopy: true), forward.Loss, forward.LossWeight);
            _worker.Update(decision.ClipCoefficient, decision.LearningRate);
            Steps++;
            var (clip, approximateKl, entropy) = _worker.PpoStatistics.Means;
            results.Add(new PpoUpdateStatistics(decision.Loss, clip, approximateKl, entropy));
        }

        return results;
    }

    /// <summary>Parameters, optimizer state and steps taken.</summary>
    public byte[] SaveState()
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream))
        {
            writer.Write(StateVersion);
            writer.Write(Steps);
            var state = _worker.SaveState();
            writer.Write(state.Length);
            writer.Write(state);
        }

        return stream.ToArray();
    }

    /// <exception cref="InvalidDataException">Not a state of this learner's model; nothing changes.</exception>
    public void LoadState(byte[] state)
    {
        ArgumentNullException.ThrowIfNull(state);
        try
        {
            using var reader = new BinaryReader(new MemoryStream(state));
            if (reader.ReadInt32() != StateVersion)
            {
                throw new InvalidDataException("This is not a PPO learner's state of this version.");
            }

            var steps = reader.ReadInt64();
            var length = reader.ReadInt32();
            var worker = reader.ReadBytes(length);
            if (worker.Length != length)
            {
                throw new InvalidDataException("The PPO learner's state is truncated.");
            }

            _worker.LoadState(worker);
            Steps = steps;
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("The PPO learner's state is truncated.", e);
        }
    }

    /// <summary>Every parameter by name as float32 bytes and shape.</summary>
    public IReadOnlyList<(string Name, byte[] Data, long[] Shape)> Parameters() => _worker.Parameters();

    public void Dispose() => _worker.Dispose();
}

/// <summary>One minibatch step: its loss and, for the policy, clip fraction, approximate KL and entropy (NaN for the value model).</summary>
public readonly record struct PpoUpdateStatistics(double Loss, double ClipFraction, double ApproximateKl, double Entropy);
