using System.Runtime.InteropServices;
using System.Text;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Optimization;
using InsideLLMs.Distributed.Maths.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using AdamW = InsideLLMs.Distributed.Maths.Optimization.AdamW;

namespace InsideLLMs.Distributed.Maths.Pipeline;

/// <summary>
/// The maths of one pipeline stage of one replica, free of Orleans: forward and backward per micro-batch with the
/// activations stashed in between, the flat gradient for the all-reduce, the tied-matrix exchange, one AdamW step,
/// and checkpoint bytes. A stage grain owns one and calls it from a compute thread, one call at a time; the reference
/// trainer is the one-stage, one-replica case (a worker over the whole model), so the step's maths exists once.
/// </summary>
public sealed class StageWorker : IDisposable
{
    /// <summary>The last stage's copy of the tied embedding/head matrix: counted once, as wte, in every norm.</summary>
    private const string TiedCopyName = "lm_head.weight";

    private readonly AdamW _optimizer;
    private readonly Dictionary<int, StashEntry> _stash = [];
    private readonly (string Name, Parameter Parameter)[] _parameters;
    private readonly TrainingObjective _objective;

    /// <param name="options">The run's options, as the reference trainer takes them: the optimizer, the seed of the
    /// initial weights, the objective the last stage scores, and <see cref="TrainingOptions.MicroBatches"/> = M x R
    /// (see <see cref="TrainingObjective"/> for how a micro-batch's loss is scaled so the reduced gradient is the
    /// gradient of the global batch's loss).</param>
    public StageWorker(GptConfig config, StageSpec stage, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(stage);
        ArgumentNullException.ThrowIfNull(options);
        Model = new GptStage(config, stage, options.Seed, TrainingObjective.HeadFor(options.Objective));
        _parameters = [.. Model.named_parameters()];
        _optimizer = new AdamW(_parameters, options.Optimizer);
        _objective = TrainingObjective.For(options.Objective, options.MicroBatches, options.RankingCompletions);
    }

    public GptStage Model { get; }

    public StageSpec Stage => Model.Stage;

    public ObjectiveKind Objective => _objective.Kind;

    /// <summary>
    /// Whether the first and last stages of a pipeline hold two copies of one matrix whose gradients must be combined
    /// (<see cref="TiedGradient"/>): a language model's embedding and head; a score model has no such pair.
    /// </summary>
    public bool TiesEmbedding => Model.TiesEmbedding;

    /// <summary>Micro-batches whose forward ran and whose backward has not.</summary>
    public int StashedCount => _stash.Count;

    /// <summary>Floats in this stage's flat gradient (what the ring all-reduce moves).</summary>
    public int GradientLength => GradientBuffer.Length(_parameters.Select(p => p.Parameter));

    /// <summary>
    /// A policy's last stage: PPO's statistics (clip fraction, approximate KL, entropy) of this step's micro-batches so far,
    /// measured on the logits of their forward, that is on the weights the step starts from. Empty for every other stage.
    /// </summary>
    public PpoStatisticSums PpoStatistics { get; private set; }

    /// <summary>Forgets a failed step's stash and gradients; the next step starts clean.</summary>
    public void BeginStep()
    {
        ClearStash();
        PpoStatistics = default;
        _optimizer.ZeroGrad();
        Model.train();
    }

    /// <summary>
    /// Forward of one micro-batch. First stage: <paramref name="tokens"/> (B x T int64); later stages: the previous
    /// stage's hidden states. Not last: returns the hidden states to send on. Last: scores <paramref name="targets"/>
    /// with the run's objective and returns the micro-batch's loss term (the hidden result is null): the step's loss is
    /// Σ Loss / Σ LossWeight over its micro-batches (pre-training: each micro-batch's mean, weight 1).
    /// </summary>
    /// <param name="stepTargetCount">Scored targets of the whole step's global batch, for objectives that normalise per token (SFT).</param>
    /// <param name="ppo">A PPO update's per-token rollout data (last stage only; null for every other objective).</param>
    public (byte[]? Hidden, long[]? Shape, double Loss, double LossWeight) Forward(
        int microBatch, long[]? tokens, byte[]? hidden, long[] shape, long[]? targets, long stepTargetCount = 0, PpoTokens? ppo = null)
    {
        if (_stash.ContainsKey(microBatch))
        {
            throw new InvalidOperationException($"Micro-batch {microBatch} already ran forward on stage {Stage.Index}.");
        }

        using var scope = NewDisposeScope();
        Tensor input;
        Tensor? received = null;
        if (Stage.IsFirst)
        {
            input = tensor(tokens ?? throw new ArgumentException("The first stage needs token IDs."), shape, dtype: ScalarType.Int64);
        }
        else
        {
            received = TensorIO.FromBytes(hidden ?? throw new ArgumentException("A later stage needs hidden states."), shape).requires_grad_(true);
            input = received;
        }

        var output = Model.Forward(input);
        if (Stage.IsLast)
        {
            var scored = new ObjectiveTargets(
                targets ?? throw new ArgumentException("The last stage needs targets."), (int)shape[0], (int)shape[1], stepTargetCount) { Ppo = ppo };
            var term = _objective.Loss(output, scored);
            if (_objective is PpoPolicyLoss policy)
            {
                PpoStatistics = PpoStatistics.Add(PpoStatisticSums.Of(policy.Statistics(output, scored), scored.Counted));
            }

            _stash[microBatch] = new StashEntry(received?.DetachFromDisposeScope(), term.Backward.DetachFromDisposeScope());
            return (null, null, term.Value, term.Weight);
        }

        _stash[microBatch] = new StashEntry(received?.DetachFromDisposeScope(), output.DetachFromDisposeScope());
        return (TensorIO.ToBytes(output), output.shape, double.NaN, 0);
    }

    /// <summary>
    /// Backward of one micro-batch: from the loss on the last stage, otherwise from <paramref name="outputGradient"/>.
    /// Gradients accumulate in the parameters. Returns the gradient for the previous stage, or null on the first.
    /// </summary>
    public (byte[]? Gradient, long[]? Shape) Backward(int microBatch, byte[]? outputGradient)
    {
        if (!_stash.Remove(microBatch, out var stashed))
        {
            throw new InvalidOperationException($"Micro-batch {microBatch} has no stashed forward on stage {Stage.Index}.");
        }

        using var scope = NewDisposeScope();
        try
        {
            if (Stage.IsLast)
            {
                stashed.Output.backward(); // already scaled to this micro-batch's share of the step's loss
            }
            else
            {
                var gradient = TensorIO.FromBytes(outputGradient ?? throw new ArgumentException("A stage before the last needs the gradient of its output."), stashed.Output.shape);
                stashed.Output.backward([gradient]);
            }

            return stashed.Input is { } input ? (TensorIO.ToBytes(input.grad!), input.shape) : (null, null);
        }
        finally
        {
            stashed.Dispose();
        }
    }

    public float[] FlattenGradient() => GradientBuffer.Flatten(_parameters.Select(p => p.Parameter));

    public void LoadGradient(float[] flat) => GradientBuffer.Unflatten(flat, _parameters.Select(p => p.Parameter));

    /// <summary>This stage's copy of the tied embedding/head matrix's gradient: wte on the first stage, lm_head on the last.</summary>
    public byte[] TiedGradient()
    {
        using var scope = NewDisposeScope(); // the .grad wrapper
        return TensorIO.ToBytes(TiedParameter().grad ?? throw new InvalidOperationException("The tied matrix has no gradient yet."));
    }

    /// <summary>
    /// Sets the tied matrix's gradient to first + last, in that order on both stages, so both copies hold the same
    /// bits and take the same AdamW step (the whole model has one matrix whose gradient is that sum).
    /// </summary>
    public void CombineTiedGradient(byte[] other)
    {
        var parameter = TiedParameter();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var mine = parameter.grad!;
        var theirs = TensorIO.FromBytes(other, mine.shape);
        var sum = Stage.IsFirst ? mine.Plus(theirs) : theirs.Plus(mine);
        mine.copy_(sum);
    }

    /// <summary>Squared gradient norm of this stage; the last stage's lm_head copy is left to the first stage's wte.</summary>
    public double GradientSumOfSquares(bool countTiedCopy) => GradientClipping.SumOfSquares(
        _parameters.Where(p => countTiedCopy || p.Name != TiedCopyName).Select(p => p.Parameter));

    /// <summary>
    /// The squared gradient norm of each layer of this stage (<see cref="GptStage.LayerOf"/>), in model order: the same
    /// gradients and the same tied rule as <see cref="GradientSumOfSquares"/>, so the squares add up to it. Call it where
    /// that is called, before <see cref="Update"/> clips.
    /// </summary>
    public IReadOnlyList<LayerGradientSquares> LayerGradientSumsOfSquares(bool countTiedCopy) =>
        [.. _parameters.Where(p => countTiedCopy || p.Name != TiedCopyName)
            .GroupBy(p => GptStage.LayerOf(p.Name))
            .OrderBy(layer => GptStage.LayerRank(layer.Key))
            .Select(layer => new LayerGradientSquares(layer.Key, GradientClipping.SumOfSquares(layer.Select(p => p.Parameter))))];

    /// <summary>
    /// Scales the gradient by the global clipping coefficient and takes one AdamW step. Returns the squared norms of the
    /// step's change and of the parameters before it, lm_head (the last stage's copy of wte) left out: the first stage
    /// counts the tied matrix, which takes the same step on both.
    /// </summary>
    public UpdateSquares Update(double clipCoefficient, double learningRate)
    {
        GradientClipping.Scale(_parameters.Select(p => p.Parameter), clipCoefficient);
        var counted = _optimizer.Step(learningRate).Where(c => c.Name != TiedCopyName).ToArray();
        return new UpdateSquares(counted.Sum(c => c.ChangeSumOfSquares), counted.Sum(c => c.SumOfSquaresBefore));
    }

    /// <summary>Validation forward (no graph): hidden states to pass on, or on the last stage the summed loss and target count.</summary>
    public (byte[]? Hidden, long[]? Shape, double LossSum, long Targets) Evaluate(long[]? tokens, byte[]? hidden, long[] shape, long[]? targets)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        Model.eval();
        try
        {
            var input = Stage.IsFirst ? tensor(tokens!, shape, dtype: ScalarType.Int64) : TensorIO.FromBytes(hidden!, shape);
            var output = Model.Forward(input);
            if (!Stage.IsLast)
            {
                return (TensorIO.ToBytes(output), output.shape, 0, 0);
            }

            var (sum, count) = _objective.Evaluate(output, new ObjectiveTargets(targets!, (int)shape[0], (int)shape[1]));
            return (null, null, sum, count);
        }
        finally
        {
            Model.train();
        }
    }

    /// <summary>The optimizer's moments and step count (a checkpoint file writes them after the parameters).</summary>
    public void WriteOptimizer(BinaryWriter writer) => _optimizer.Write(writer);

    /// <exception cref="InvalidDataException">The state belongs to parameters of other shapes; nothing changes.</exception>
    public void ReadOptimizer(BinaryReader reader) => _optimizer.Read(reader);

    /// <summary>Parameters and optimizer state as bytes, for grain storage.</summary>
    public byte[] SaveState()
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
        {
            TensorIO.WriteParameters(writer, _parameters);
            _optimizer.Write(writer);
        }

        return buffer.ToArray();
    }

    /// <exception cref="InvalidDataException">The bytes were saved by a stage of another shape; nothing changes.</exception>
    public void LoadState(byte[] state)
    {
        ArgumentNullException.ThrowIfNull(state);
        using var reader = new BinaryReader(new MemoryStream(state), Encoding.UTF8);
        TensorIO.ReadParameters(reader, _parameters, _optimizer.Read);
    }

    /// <summary>
    /// Sets this stage's parameters from a whole model's, by name (a published version's: the tied matrix once, as
    /// wte.weight, which a last stage without the embedding takes as its lm_head.weight). A score head the weights do
    /// not have (a reward model started from a language model) keeps its fresh initialisation, and parameters this
    /// stage does not have (the language model's head) are not read. The optimizer state stays fresh: fine-tuning starts
    /// its own AdamW moments.
    /// </summary>
    /// <exception cref="InvalidDataException">A parameter is missing or has another shape; nothing changes.</exception>
    public void LoadInitialParameters(IReadOnlyDictionary<string, (byte[] Data, long[] Shape)> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var sources = _parameters
            .Select(p => (p.Name, p.Parameter, Source: p.Name == TiedCopyName ? "wte.weight" : p.Name))
            .Where(p => parameters.ContainsKey(p.Source) || GptStage.LayerOf(p.Name) != GptStage.ScoreHeadLayer)
            .ToArray();
        foreach (var (name, parameter, source) in sources)
        {
            if (!parameters.TryGetValue(source, out var given))
            {
                throw new InvalidDataException($"The initial weights have no {source}, which stage {Stage.Index} needs for {name}.");
            }

            if (!given.Shape.SequenceEqual(parameter.shape))
            {
                throw new InvalidDataException(
                    $"The initial weights' {source} is ({string.Join(", ", given.Shape)}) but stage {Stage.Index}'s {name} is ({string.Join(", ", parameter.shape)}).");
            }
        }

        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var (_, parameter, source) in sources)
        {
            var (data, shape) = parameters[source];
            parameter.copy_(TensorIO.FromBytes(data, shape));
        }
    }

    /// <summary>Every parameter by name as float32 bytes and shape (lm_head.weight included on a last stage).</summary>
    public IReadOnlyList<(string Name, byte[] Data, long[] Shape)> Parameters() =>
        [.. _parameters.Select(p => (p.Name, TensorIO.ToBytes(p.Parameter), p.Parameter.shape))];

    private Parameter TiedParameter() => _parameters.Single(p => p.Name == (Stage.IsFirst ? "wte.weight" : TiedCopyName)).Parameter;

    private void ClearStash()
    {
        foreach (var stashed in _stash.Values)
        {
            stashed.Dispose();
        }

        _stash.Clear();
    }

    public void Dispose()
    {
        ClearStash();
        _optimizer.Dispose();
        Model.Dispose();
    }

    /// <summary>What backward needs: the received input (to hand its gradient back) and the output or loss with its graph.</summary>
    private sealed record StashEntry(Tensor? Input, Tensor Output) : IDisposable
    {
        public void Dispose()
        {
            Input?.Dispose();
            Output.Dispose();
        }
    }
}

/// <summary>Token batches as bytes and back.</summary>
public static class TokenBytes
{
    public static byte[] From(long[] values) => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    public static long[] To(byte[] bytes) => MemoryMarshal.Cast<byte, long>(bytes).ToArray();
}

/// <summary>One layer's squared gradient norm (layers as <see cref="GptStage.LayerOf"/> names them).</summary>
public readonly record struct LayerGradientSquares(string Layer, double SumOfSquares)
{
    public double Norm => Math.Sqrt(SumOfSquares);
}

/// <summary>
/// One optimizer step's size: the squared norm of the parameters' change, ||theta_after - theta_before||^2, and the
/// parameters' squared norm before it, ||theta_before||^2; the square roots' ratio is the step's relative change.
/// </summary>
public readonly record struct UpdateSquares(double ChangeSumOfSquares, double ParameterSumOfSquares)
{
    public double ChangeNorm => Math.Sqrt(ChangeSumOfSquares);

    public double ParameterNorm => Math.Sqrt(ParameterSumOfSquares);
}
