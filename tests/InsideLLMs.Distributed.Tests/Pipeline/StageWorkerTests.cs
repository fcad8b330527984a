using System.Runtime.InteropServices;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Pipeline;
using InsideLLMs.Distributed.Maths.Training;
using InsideLLMs.Distributed.Tests.Data;
using TorchSharp;

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

                var (hidden, hiddenShape, _, _) = first.Forward(micro, batch.Inputs, null, shape, null);
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
            // Per layer too: the stages' layers are disjoint, and the tied matrix counts once, as the first stage's wte.
            var wholeLayers = whole.LayerGradientSumsOfSquares(countTiedCopy: true);
            var chainedLayers = first.LayerGradientSumsOfSquares(countTiedCopy: true).Concat(last.LayerGradientSumsOfSquares(countTiedCopy: false)).ToArray();
            Assert.Equal(wholeLayers.Select(l => l.Layer), chainedLayers.Select(l => l.Layer));
            Assert.All(wholeLayers.Zip(chainedLayers), pair => Assert.Equal(pair.First.Norm, pair.Second.Norm, 1e-5));
            var wholeUpdate = whole.Update(wholeDecision.ClipCoefficient, wholeDecision.LearningRate);
            var firstUpdate = first.Update(chainedDecision.ClipCoefficient, chainedDecision.LearningRate);
            var lastUpdate = last.Update(chainedDecision.ClipCoefficient, chainedDecision.LearningRate);
            Assert.Equal(wholeUpdate.ChangeNorm, Math.Sqrt(firstUpdate.ChangeSumOfSquares + lastUpdate.ChangeSumOfSquares), 1e-5);
            Assert.Equal(wholeUpdate.ParameterNorm, Math.Sqrt(firstUpdate.ParameterSumOfSquares + lastUpdate.ParameterSumOfSquares), 1e-4);
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
    public void LayerGradientSumsOfSquares_AreEveryLayerInModelOrder_AndAddUpToTheGlobalNormSquared()
    {
        var data = TestData.SmallSynthetic(blockSize: 32);
        var config = Shape with { VocabularySize = data.Vocabulary.Count };
        using var worker = new StageWorker(config, StageSpec.Whole(config), new TrainingOptions { Seed = 3, MicroBatches = 1 });
        var batch = data.TrainBatch(3, 0, 0, 0, 1, 4);
        worker.BeginStep();
        worker.Forward(0, batch.Inputs, null, [batch.BatchSize, batch.BlockSize], batch.Targets);
        worker.Backward(0, null);

        var layers = worker.LayerGradientSumsOfSquares(countTiedCopy: true);
        var global = worker.GradientSumOfSquares(countTiedCopy: true);

        Assert.Equal(["embedding", "h.0", "h.1", "ln_f"], layers.Select(l => l.Layer));
        Assert.All(layers, l => Assert.True(l.SumOfSquares > 0, $"{l.Layer} has no gradient"));
        Assert.Equal(global, layers.Sum(l => l.SumOfSquares), global * 1e-12);
    }

    /// <summary>
    /// The pre-training objective computes what the stage computed before objectives were pluggable: the mean
    /// cross-entropy reported as it is, and its backward scaled by 1 / (M x R), to the last bit of every gradient.
    /// </summary>
    [Fact]
    public void PretrainObjective_GradientAndLoss_AreBitIdenticalToTheMeanLossScaledByTheMicroBatches()
    {
        var data = TestData.SmallSynthetic(blockSize: 32);
        var config = Shape with { VocabularySize = data.Vocabulary.Count };
        var options = new TrainingOptions { Seed = 6, MicroBatches = 3 };
        using var worker = new StageWorker(config, StageSpec.Whole(config), options);
        using var model = new GptStage(config, StageSpec.Whole(config), options.Seed);
        var batch = data.TrainBatch(6, 0, 0, 0, 3, 4);
        long[] shape = [batch.BatchSize, batch.BlockSize];

        worker.BeginStep();
        var (_, _, loss, weight) = worker.Forward(0, batch.Inputs, null, shape, batch.Targets);
        worker.Backward(0, null);

        float expectedLoss;
        using (var scope = TorchSharp.torch.NewDisposeScope())
        {
            var logits = model.Forward(TorchSharp.torch.tensor(batch.Inputs, shape, dtype: TorchSharp.torch.ScalarType.Int64));
            var mean = GptStage.Loss(logits, TorchSharp.torch.tensor(batch.Targets, shape, dtype: TorchSharp.torch.ScalarType.Int64));
            expectedLoss = mean.item<float>();
            using var scale = (1.0 / options.MicroBatches).ToScalar();
            mean.mul(scale).backward();
        }

        Assert.Equal(expectedLoss, loss);
        Assert.Equal(1, weight);
        var expected = model.named_parameters().ToDictionary(p => p.name, p => GradientBytes(p.parameter));
        foreach (var (name, parameter) in worker.Model.named_parameters())
        {
            Assert.True(GradientBytes(parameter).AsSpan().SequenceEqual(expected[name]), $"{name}'s gradient differs");
        }
    }

    private static byte[] GradientBytes(TorchSharp.Modules.Parameter parameter)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        return TensorIO.ToBytes(parameter.grad!);
    }

    [Fact]
    public void Update_ReportsTheNormOfTheParameterChangeAndOfTheParametersBefore()
    {
        var data = TestData.SmallSynthetic(blockSize: 32);
        var config = Shape with { VocabularySize = data.Vocabulary.Count };
        using var worker = new StageWorker(config, StageSpec.Whole(config), new TrainingOptions { Seed = 4, MicroBatches = 1, LearningRate = 1e-2 });
        var batch = data.TrainBatch(4, 0, 0, 0, 1, 4);
        worker.BeginStep();
        worker.Forward(0, batch.Inputs, null, [batch.BatchSize, batch.BlockSize], batch.Targets);
        worker.Backward(0, null);
        var before = worker.Parameters().ToDictionary(p => p.Name, p => Floats(p.Data));

        var update = worker.Update(clipCoefficient: 0.5, learningRate: 1e-2);

        var after = worker.Parameters().ToDictionary(p => p.Name, p => Floats(p.Data));
        var change = before.Sum(p => p.Value.Zip(after[p.Key], (b, a) => ((double)a - b) * ((double)a - b)).Sum());
        var norm = before.Values.Sum(values => values.Sum(v => (double)v * v));
        Assert.True(change > 0, "the step changed nothing");
        Assert.Equal(Math.Sqrt(change), update.ChangeNorm, Math.Sqrt(change) * 1e-6);
        Assert.Equal(Math.Sqrt(norm), update.ParameterNorm, Math.Sqrt(norm) * 1e-6);
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
