using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Pipeline;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Tests.Pipeline;

public sealed class GradientBufferTests
{
    private static readonly GptConfig Small = new()
    {
        VocabularySize = 37, BlockSize = 16, LayerCount = 2, HeadCount = 2, EmbeddingSize = 32, Bias = true,
    };

    [Fact]
    public void Flatten_AfterBackward_ConcatenatesGradientsInParameterOrderWithZerosForMissingOnes()
    {
        using var scope = NewDisposeScope();
        var weight = new Parameter(zeros(2, 3));
        var unused = new Parameter(zeros(2));
        var bias = new Parameter(zeros(3));
        // d/dw sum(w * k) = k; d/db sum(3 b) = 3.
        (weight * arange(6, dtype: ScalarType.Float32).view(2, 3)).sum().add(bias.sum() * 3).backward();

        var buffer = GradientBuffer.Flatten([weight, unused, bias]);

        Assert.Equal([0f, 1f, 2f, 3f, 4f, 5f, 0f, 0f, 3f, 3f, 3f], buffer);
        Assert.Equal(11, GradientBuffer.Length([weight, unused, bias]));
    }

    [Fact]
    public void Unflatten_IntoParametersWithAndWithoutGradients_RoundTripsAndCreatesMissingGradients()
    {
        using var scope = NewDisposeScope();
        var withGrad = new Parameter(zeros(2, 2));
        withGrad.sum().backward();
        var withoutGrad = new Parameter(zeros(3));
        float[] buffer = [1f, 2f, 3f, 4f, -1f, -2f, -3f];

        GradientBuffer.Unflatten(buffer, [withGrad, withoutGrad]);

        Assert.Equal([1f, 2f, 3f, 4f], withGrad.grad!.data<float>().ToArray());
        Assert.Equal([2L, 2L], withGrad.grad!.shape);
        Assert.Equal([-1f, -2f, -3f], withoutGrad.grad!.data<float>().ToArray());
        Assert.Equal(buffer, GradientBuffer.Flatten([withGrad, withoutGrad]));
    }

    [Fact]
    public void Unflatten_BufferOfTheWrongLength_ThrowsAndLeavesGradientsAlone()
    {
        using var scope = NewDisposeScope();
        var parameter = new Parameter(zeros(3));

        var error = Assert.Throws<ArgumentException>(() => GradientBuffer.Unflatten(new float[4], [parameter]));

        Assert.Contains("hold 3 elements; the buffer has 4", error.Message, StringComparison.Ordinal);
        Assert.Null(parameter.grad);
    }

    [Fact]
    public void FlattenRingUnflatten_TwoReplicasOneRowEach_GivesTheGradientOfTheWholeBatchOnBothBitIdentically()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(3);
        var tokens = randint(0, Small.VocabularySize, [2, 9], dtype: ScalarType.Int64, generator: generator); // (B=2, T+1)
        var inputs = tokens[.., ..8].contiguous(); // (2, 8)
        var targets = tokens[.., 1..].contiguous(); // (2, 8), shifted by one
        using var whole = new GptStage(Small, StageSpec.Whole(Small), seed: 4);
        using var first = new GptStage(Small, StageSpec.Whole(Small), seed: 4);
        using var second = new GptStage(Small, StageSpec.Whole(Small), seed: 4);

        // The global batch's mean loss is the mean of the two rows' mean losses (same token count per row),
        // so each replica back-propagates half its row's loss and the all-reduce sums.
        GptStage.Loss(whole.Forward(inputs), targets).backward();
        (GptStage.Loss(first.Forward(inputs[..1]), targets[..1]) / 2).backward();
        (GptStage.Loss(second.Forward(inputs[1..]), targets[1..]) / 2).backward();
        float[][] buffers = [GradientBuffer.Flatten(first.parameters()), GradientBuffer.Flatten(second.parameters())];
        new RingAllReduce(2, buffers[0].Length).Execute(buffers);
        GradientBuffer.Unflatten(buffers[0], first.parameters());
        GradientBuffer.Unflatten(buffers[1], second.parameters());

        Assert.Equal(buffers[0], buffers[1]);
        foreach (var ((name, expected), actual) in whole.named_parameters().Zip(first.parameters()))
        {
            Assert.True(actual.grad!.allclose(expected.grad!, rtol: 1e-5, atol: 1e-6), name);
        }
    }
}
