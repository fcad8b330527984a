using System.Runtime.InteropServices;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Pipeline;
using InsideLLMs.Distributed.Maths.Training;
using InsideLLMs.Distributed.Tests.Data;

namespace InsideLLMs.Distributed.Tests.Pipeline;

/// <summary>
/// Stage workers chained by hand, without a cluster: two stages passing activations and gradients as bytes, with the
/// tied matrix combined, compute the step one worker over the whole model computes.
/// </summary>
public sealed class StageWorkerTests
{
    private static readonly GptConfig Shape = new() { VocabularySize = 0, BlockSize = 32, LayerCount = 2, HeadCount = 2, EmbeddingSize = 16 };

    [Fact]
    public void TwoStagesChainedByHand_TakeTheStepOfOneWholeModelWorker()
    {
        var data = TestData.SmallSynthetic(blockSize: 32);
        var config = Shape with { VocabularySize = data.Vocabulary.Count };
        var options = new TrainingOptions { Seed = 5, MicroBatches = 2, BatchSize = 3 };
        var stages = StageSpec.Partition(config, 2);
        using var whole = new StageWorker(config, StageSpec.Whole(config), options);
        using var first = new StageWorker(config, stages[0], options);
        using var last = new StageWorker(config, stages[1], options);
        var rule = new StepRule(options);

        for (var step = 0; step < 3; step++)
        {
            whole.BeginStep();
            first.BeginStep();
            last.BeginStep();
            double wholeLoss = 0, chainedLoss = 0;
            for (var micro = 0; micro < options.MicroBatches; micro++)
            {
                var batch = data.TrainBatch(options.Seed, step, micro, replica: 0, options.MicroBatches, options.BatchSize);
                long[] shape = [batch.BatchSize, batch.BlockSize];
                wholeLoss += whole.Forward(micro, batch.Inputs, null, shape, batch.Targets).Loss;
                whole.Backward(micro, null);

                var (hidden, hiddenShape, _) = first.Forward(micro, batch.Inputs, null, shape, null);
                chainedLoss += last.Forward(micro, null, hidden, hiddenShape!, batch.Targets).Loss;
                var (gradient, _) = last.Backward(micro, null);
                Assert.Null(first.Backward(micro, gradient).Gradient); // the first stage has no previous stage
            }

            var firstTied = first.TiedGradient();
            first.CombineTiedGradient(last.TiedGradient());
            last.CombineTiedGradient(firstTied);
            Assert.Equal(first.TiedGradient(), last.TiedGradient()); // both copies hold the same bits

            var wholeDecision = rule.Decide(step, whole.GradientSumOfSquares(countTiedCopy: true), wholeLoss);
            var chainedDecision = rule.Decide(
                step, first.GradientSumOfSquares(countTiedCopy: true) + last.GradientSumOfSquares(countTiedCopy: false), chainedLoss);
            Assert.Equal(wholeDecision.Loss, chainedDecision.Loss, 1e-6);
            Assert.Equal(wholeDecision.GradientNorm, chainedDecision.GradientNorm, 1e-5);
            whole.Update(wholeDecision.ClipCoefficient, wholeDecision.LearningRate);
            first.Update(chainedDecision.ClipCoefficient, chainedDecision.LearningRate);
            last.Update(chainedDecision.ClipCoefficient, chainedDecision.LearningRate);
        }

        var wholeParameters = whole.Parameters().ToDictionary(p => p.Name, p => Floats(p.Data));
        foreach (var (name, bytes, _) in first.Parameters().Concat(last.Parameters().Where(p => p.Name != "lm_head.weight")))
        {
            var chained = Floats(bytes);
            var expected = wholeParameters[name];
            Assert.Equal(expected.Length, chained.Length);
            var worst = expected.Zip(chained, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(worst < 1e-5, $"{name} differs by {worst}");
        }

        Assert.Equal(
            Floats(first.Parameters().Single(p => p.Name == "wte.weight").Data),
            Floats(last.Parameters().Single(p => p.Name == "lm_head.weight").Data));
    }

    [Fact]
    public void AMicroBatch_RunsForwardOnceAndBackwardOnlyAfterIt()
    {
        var data = TestData.SmallSynthetic(blockSize: 32);
        var config = Shape with { VocabularySize = data.Vocabulary.Count };
        using var worker = new StageWorker(config, StageSpec.Whole(config), new TrainingOptions { Seed = 1, MicroBatches = 1 });
        var batch = data.TrainBatch(1, 0, 0, 0, 1, 2);
        long[] shape = [batch.BatchSize, batch.BlockSize];
        worker.BeginStep();

        Assert.Throws<InvalidOperationException>(() => worker.Backward(0, null));
        worker.Forward(0, batch.Inputs, null, shape, batch.Targets);
        Assert.Equal(1, worker.StashedCount);
        Assert.Throws<InvalidOperationException>(() => worker.Forward(0, batch.Inputs, null, shape, batch.Targets));
        worker.BeginStep(); // a failed step's stash is forgotten
        Assert.Equal(0, worker.StashedCount);
    }

    [Fact]
    public void LoadState_OfAStageOfAnotherShape_IsRefusedAndChangesNothing()
    {
        var data = TestData.SmallSynthetic(blockSize: 32);
        var config = Shape with { VocabularySize = data.Vocabulary.Count };
        var options = new TrainingOptions { Seed = 2, MicroBatches = 1 };
        var stages = StageSpec.Partition(config, 2);
        using var first = new StageWorker(config, stages[0], options);
        using var last = new StageWorker(config, stages[1], options);
        var before = first.SaveState();

        Assert.Throws<InvalidDataException>(() => first.LoadState(last.SaveState()));
        Assert.Equal(before, first.SaveState());
    }

    private static float[] Floats(byte[] bytes) => MemoryMarshal.Cast<byte, float>(bytes).ToArray();
}
