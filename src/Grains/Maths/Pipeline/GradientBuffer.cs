using System.Runtime.InteropServices;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Maths.Pipeline;

/// <summary>
/// A stage's gradients as one flat float buffer, in parameter order: what <see cref="RingAllReduce"/> cuts into
/// chunks. Every replica of a stage holds the same parameters in the same order, so offsets agree across replicas.
/// </summary>
/// <remarks>
/// <para>The tied embedding / LM head. The first stage holds <c>wte.weight</c> and the last its copy
/// <c>lm_head.weight</c>; the whole model has one tensor whose gradient is the sum of both uses. So each of the two
/// stages first all-reduces its own copy's gradient across replicas (inside its own flat buffer), then the two
/// exchange that gradient and each sets grad = first + last. Float addition is commutative bit for bit, so both
/// copies hold identical gradients and take identical AdamW steps. The order matters: adding before the all-reduce
/// would put the same tensor at different offsets of two differently chunked buffers, summed across replicas in
/// different orders, and the copies would drift apart in the last bit.</para>
/// <para>For global clipping the tied gradient counts once (the reference model has one tensor): the last stage
/// leaves <c>lm_head.weight</c> out of its <see cref="Training.GradientClipping.SumOfSquares"/>.</para>
/// </remarks>
public static class GradientBuffer
{
    /// <summary>Total elements of the parameters: the buffer's length.</summary>
    public static int Length(IEnumerable<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var total = parameters.Sum(parameter => parameter.numel());
        if (total > Array.MaxLength)
        {
            throw new ArgumentException($"{total} gradient elements do not fit one array; split the stage.", nameof(parameters));
        }

        return (int)total;
    }

    /// <summary>Every parameter's gradient, concatenated in order; a parameter without a gradient contributes zeros.</summary>
    public static float[] Flatten(IEnumerable<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var list = parameters.ToList();
        var buffer = new float[Length(list)];
        using var scope = NewDisposeScope(); // the .grad wrappers and the intermediate copies
        var offset = 0;
        foreach (var parameter in list)
        {
            var count = (int)parameter.numel();
            if (parameter.grad is { } grad)
            {
                using var values = grad.detach().to(ScalarType.Float32).cpu().contiguous();
                MemoryMarshal.Cast<byte, float>(values.bytes).CopyTo(buffer.AsSpan(offset, count));
            }

            offset += count;
        }

        return buffer;
    }

    /// <summary>Writes the buffer back into each parameter's <c>.grad</c>, in order, creating gradients that are missing.</summary>
    /// <exception cref="ArgumentException">The buffer's length is not the parameters' total.</exception>
    public static void Unflatten(float[] buffer, IEnumerable<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        ArgumentNullException.ThrowIfNull(parameters);
        var list = parameters.ToList();
        var length = Length(list);
        if (buffer.Length != length)
        {
            throw new ArgumentException($"The parameters hold {length} elements; the buffer has {buffer.Length}.", nameof(buffer));
        }

        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var offset = 0;
        foreach (var parameter in list)
        {
            var count = (int)parameter.numel();
            using var values = tensor(buffer.AsSpan(offset, count).ToArray(), parameter.shape);
            if (parameter.grad is { } grad)
            {
                grad.copy_(values);
            }
            else
            {
                parameter.grad = values.to(parameter.dtype, parameter.device).clone();
            }

            offset += count;
        }
    }
}
