using InsideLLMs.Distributed.Contracts.Training;
using MassTransit;

namespace InsideLLMs.Distributed.Silo.Training;

/// <summary>Keeps each step the bus delivers in this silo's <see cref="LiveTrainingFeed"/>.</summary>
public sealed class TrainingStepCompletedConsumer(LiveTrainingFeed feed) : IConsumer<TrainingStepCompleted>
{
    public Task Consume(ConsumeContext<TrainingStepCompleted> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        feed.Add(context.Message);
        return Task.CompletedTask;
    }
}
