using InsideLLMs.Distributed.Maths.Optimization;
using TorchSharp.Modules;
using static TorchSharp.torch;
using AdamW = InsideLLMs.Distributed.Maths.Optimization.AdamW;
using TorchAdamW = TorchSharp.Modules.AdamW;

namespace InsideLLMs.Distributed.Tests.Optimization;

public sealed class AdamWTests
{
    [Fact]
    public void Step_OnAMatrixAndABias_MatchesTorchAdamWWithDecayOnTheMatrixOnly()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(11);
        var ours = new[] { new Parameter(randn(4, 3, generator: generator)), new Parameter(randn(3, generator: generator)) };
        var theirs = ours.Select(p => new Parameter(p.detach().clone())).ToArray();
        var target = randn(5, 3, generator: generator);
        var input = randn(5, 4, generator: generator);
        using var adamw = new AdamW([("w", ours[0]), ("b", ours[1])], new AdamWOptions(0.9, 0.99, 1e-8, 0.1));
        var reference = optim.AdamW(
            [new TorchAdamW.ParamGroup([theirs[0]], new TorchAdamW.Options { weight_decay = 0.1 }),
             new TorchAdamW.ParamGroup([theirs[1]], new TorchAdamW.Options { weight_decay = 0.0 })],
            lr: 0.05, beta1: 0.9, beta2: 0.99, eps: 1e-8);

        for (var step = 0; step < 5; step++)
        {
            adamw.ZeroGrad();
            reference.zero_grad();
            (input.matmul(ours[0]) + ours[1] - target).square().mean().backward();
            (input.matmul(theirs[0]) + theirs[1] - target).square().mean().backward();
            adamw.Step(0.05);
            reference.step();
        }

        Assert.Equal(5, adamw.StepCount);
        Assert.True(ours[0].allclose(theirs[0], rtol: 1e-5, atol: 1e-6), "matrix");
        Assert.True(ours[1].allclose(theirs[1], rtol: 1e-5, atol: 1e-6), "bias");
    }

    [Fact]
    public void WriteRead_RoundTrip_RestoresTheMomentsSoTheNextStepIsIdentical()
    {
        using var scope = NewDisposeScope();
        var a = new Parameter(ones(3, 2));
        var b = new Parameter(ones(3, 2));
        using var first = new AdamW([("w", a)], new AdamWOptions());
        using var second = new AdamW([("w", b)], new AdamWOptions());
        (a * arange(6).view(3, 2)).sum().backward();
        first.Step(0.1);

        using var buffer = new MemoryStream();
        first.Write(new BinaryWriter(buffer));
        buffer.Position = 0;
        second.Read(new BinaryReader(buffer));
        using (no_grad())
        {
            b.copy_(a);
        }

        foreach (var (p, optimizer) in new[] { (a, first), (b, second) })
        {
            optimizer.ZeroGrad();
            (p * p).sum().backward();
            optimizer.Step(0.1);
        }

        Assert.True(a.allclose(b, rtol: 0, atol: 0), "a restored optimizer takes exactly the same step");
        Assert.Equal(2, second.StepCount);
    }

    [Fact]
    public void Read_StateOfAnotherShape_IsRejectedAndChangesNothing()
    {
        using var scope = NewDisposeScope();
        var small = new Parameter(ones(2));
        var large = new Parameter(ones(3));
        using var writer = new AdamW([("w", small)], new AdamWOptions());
        using var reader = new AdamW([("w", large)], new AdamWOptions());
        using var buffer = new MemoryStream();
        writer.Write(new BinaryWriter(buffer));
        buffer.Position = 0;

        var error = Assert.Throws<InvalidDataException>(() => reader.Read(new BinaryReader(buffer)));
        Assert.Contains("shape", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, reader.StepCount);
    }
}
