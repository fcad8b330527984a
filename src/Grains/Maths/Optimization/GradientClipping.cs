using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Maths.Optimization;

/// <summary>
/// Global gradient-norm clipping split in two halves, so a pipeline can add up the squares of every stage
/// before any stage scales: ||g|| = sqrt(sum over stages of SumOfSquares), then Scale(Coefficient(||g||)).
/// </summary>
public static class GradientClipping
{
    public static double SumOfSquares(IEnumerable<Parameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        using var _ = no_grad();
        using var scope = NewDisposeScope(); // each .grad is a new wrapper
        var total = 0.0;
        foreach (var parameter in parameters)
        {
            if (parameter.grad is { } grad)
            {
                using var squared = grad.to(ScalarType.Float64).square().sum();
                total += squared.item<double>();
            }
        }

        return total;
    }

    /// <summary>PyTorch's clip_grad_norm_ coefficient: maxNorm / (norm + 1e-6), never above 1.</summary>
    public static double Coefficient(double totalNorm, double maxNorm) =>
        maxNorm <= 0 ? 1.0 : Math.Min(1.0, maxNorm / (totalNorm + 1e-6));

    public static void Scale(IEnumerable<Parameter> parameters, double coefficient)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (coefficient >= 1.0)
        {
            return;
        }

        using var _ = no_grad();
        using var scope = NewDisposeScope(); // the grad wrappers below
        using var factor = coefficient.ToScalar();
        foreach (var parameter in parameters)
        {
            parameter.grad?.mul_(factor);
        }
    }
}
