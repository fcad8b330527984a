using InsideLLMs.Distributed.Maths.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Maths.Optimization;

/// <summary>
/// AdamW (Loshchilov and Hutter), as torch.optim.AdamW computes it, with weight decay on matrices only: every
/// parameter of two or more dimensions (linear weights, the embedding tables) decays, as in nanoGPT; biases and
/// LayerNorm gains do not, since pulling them toward zero only fights the normalisation.
/// </summary>
/// <remarks>
/// Written out rather than taken from TorchSharp so that one optimizer step per pipeline stage is the same
/// arithmetic in every process, and so its state (m, v, step) can be saved next to the parameters by name.
/// </remarks>
public sealed class AdamW : IDisposable
{
    private readonly (string Name, Parameter Parameter, bool Decay, Tensor M, Tensor V)[] _slots;
    private readonly AdamWOptions _options;

    public AdamW(IEnumerable<(string Name, Parameter Parameter)> parameters, AdamWOptions options)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _slots = [.. parameters.Select(p => (p.Name, p.Parameter, p.Parameter.dim() >= 2,
            zeros_like(p.Parameter).DetachFromDisposeScope(), zeros_like(p.Parameter).DetachFromDisposeScope()))];
    }

    /// <summary>Updates taken so far (bias correction uses it).</summary>
    public long StepCount { get; private set; }

    public IEnumerable<string> Names => _slots.Select(s => s.Name);

    public void ZeroGrad()
    {
        using var scope = NewDisposeScope(); // each .grad is a new wrapper
        foreach (var slot in _slots)
        {
            slot.Parameter.grad?.zero_();
        }
    }

    /// <summary>
    /// One update of every parameter that has a gradient, at the given learning rate. Returns, per parameter in order,
    /// the squared norm of the change it took (decay and Adam step together, measured as after - before) and its squared
    /// norm before the step: what the page's "update" shows, at the cost of one copy of each tensor at a time.
    /// </summary>
    public ParameterChange[] Step(double learningRate)
    {
        StepCount++;
        var (beta1, beta2) = (_options.Beta1, _options.Beta2);
        var biasCorrection1 = 1 - Math.Pow(beta1, StepCount);
        var biasCorrection2 = 1 - Math.Pow(beta2, StepCount);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        // Every scalar is held until the loop is done: a temporary one could be finalized while libtorch reads it.
        using var shrink = (1 - learningRate * _options.WeightDecay).ToScalar(); // decoupled decay, independent of the gradient
        using var keep1 = beta1.ToScalar();
        using var take1 = (1 - beta1).ToScalar();
        using var keep2 = beta2.ToScalar();
        using var take2 = (1 - beta2).ToScalar();
        using var denominatorScale = (1.0 / Math.Sqrt(biasCorrection2)).ToScalar();
        using var epsilon = _options.Epsilon.ToScalar();
        using var minusStepSize = (-learningRate / biasCorrection1).ToScalar();
        var changes = new ParameterChange[_slots.Length];
        for (var i = 0; i < _slots.Length; i++)
        {
            using var slotScope = NewDisposeScope(); // the copy and the measuring temporaries go with each parameter
            var (name, parameter, decay, m, v) = _slots[i];
            var before = parameter.detach().clone();
            var beforeSquares = before.to(ScalarType.Float64).square().sum().item<double>();
            var grad = parameter.grad;
            if (grad is null)
            {
                changes[i] = new ParameterChange(name, 0, beforeSquares);
                continue;
            }

            if (decay && _options.WeightDecay != 0)
            {
                parameter.mul_(shrink);
            }

            m.mul_(keep1).add_(grad, alpha: take1);
            v.mul_(keep2).addcmul_(grad, grad, value: take2);
            var denominator = v.sqrt().mul_(denominatorScale).add_(epsilon, Scalars.One);
            parameter.addcdiv_(m, denominator, value: minusStepSize);
            changes[i] = new ParameterChange(name, parameter.detach().sub(before).to(ScalarType.Float64).square().sum().item<double>(), beforeSquares);
        }

        return changes;
    }

    /// <summary>Writes the step count and m, v of every parameter, by name.</summary>
    public void Write(BinaryWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(StepCount);
        writer.Write(_slots.Length);
        foreach (var slot in _slots)
        {
            writer.Write(slot.Name);
            TensorIO.Write(writer, slot.M);
            TensorIO.Write(writer, slot.V);
        }
    }

    /// <exception cref="InvalidDataException">The state was written for other parameters or shapes.</exception>
    public void Read(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var step = reader.ReadInt64();
        var count = reader.ReadInt32();
        if (count != _slots.Length || step < 0)
        {
            throw new InvalidDataException($"The optimizer state has {count} parameters; this model has {_slots.Length}.");
        }

        using var scope = NewDisposeScope();
        var incoming = new List<(Tensor M, Tensor V)>(count);
        try
        {
            foreach (var slot in _slots)
            {
                var name = reader.ReadString();
                if (name != slot.Name)
                {
                    throw new InvalidDataException($"The optimizer state has '{name}' where this model has '{slot.Name}'.");
                }

                incoming.Add((TensorIO.Read(reader, slot.M.shape), TensorIO.Read(reader, slot.V.shape)));
            }

            using var _ = no_grad();
            for (var i = 0; i < _slots.Length; i++)
            {
                _slots[i].M.copy_(incoming[i].M);
                _slots[i].V.copy_(incoming[i].V);
            }

            StepCount = step;
        }
        finally
        {
            foreach (var (m, v) in incoming)
            {
                m.Dispose();
                v.Dispose();
            }
        }
    }

    public void Dispose()
    {
        foreach (var slot in _slots)
        {
            slot.M.Dispose();
            slot.V.Dispose();
        }
    }
}

/// <summary>AdamW hyper-parameters. Defaults are nanoGPT's (beta2 0.95 for token corpora; its character run uses 0.99).</summary>
public sealed record AdamWOptions(double Beta1 = 0.9, double Beta2 = 0.95, double Epsilon = 1e-8, double WeightDecay = 0.1);

/// <summary>What one optimizer step did to one parameter: the squared norm of its change and its squared norm before the step.</summary>
public readonly record struct ParameterChange(string Name, double ChangeSumOfSquares, double SumOfSquaresBefore);
