using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Silo.Training;
using MassTransit;

namespace InsideLLMs.Distributed.Silo.Extensions;

/// <summary>
/// The MassTransit bus: in memory by default (events stay in this silo), RabbitMQ when <c>Bus:RabbitMq:Host</c> is set
/// (every silo sees every run's steps).
/// </summary>
public static class BusExtensions
{
    public const string RabbitMqSection = "Bus:RabbitMq";

    public static WebApplicationBuilder AddTrainingBus(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var rabbit = builder.Configuration.GetSection(RabbitMqSection);
        var host = rabbit["Host"];
        builder.Services.AddSingleton<LiveTrainingFeed>();
        builder.Services.AddSingleton<ITrainingEventPublisher, BusTrainingEventPublisher>();
        builder.Services.AddMassTransit(bus =>
        {
            // A temporary queue per silo: each silo's page feed gets every step, rather than competing for them.
            bus.AddConsumer<TrainingStepCompletedConsumer>().Endpoint(endpoint => endpoint.Temporary = true);
            if (string.IsNullOrWhiteSpace(host))
            {
                bus.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
            }
            else
            {
                bus.UsingRabbitMq((context, cfg) =>
                {
                    cfg.Host(host, rabbit["VirtualHost"] ?? "/", h =>
                    {
                        h.Username(rabbit["Username"] ?? "guest");
                        h.Password(rabbit["Password"] ?? "guest");
                    });
                    cfg.ConfigureEndpoints(context);
                });
            }
        });
        return builder;
    }
}
