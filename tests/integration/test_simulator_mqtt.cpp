// The simulator publishes its events to a real mosquitto broker on ChirpStack's topics.
#include "../support/mosquitto.hpp"

#include <relaylink/chirpstack/event.hpp>
#include <relaylink/sim/simulator.hpp>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include <thread>

using namespace relaylink;
namespace cs = relaylink::chirpstack;

TEST(SimulatorMqtt, EventsArePublishedOnChirpStacksTopicsWithItsJson) {
    relaylink::test::mosquitto_broker broker;
    mqtt::async_client sub(broker.url(), "relaylink-test-sub");
    sub.start_consuming();
    sub.connect(mqtt::connect_options_builder().clean_session(true).finalize())->wait();
    sub.subscribe("application/+/device/+/event/+", 1)->wait();

    boost::asio::io_context io;
    sim::simulator_config cfg;
    cfg.manual_time = true;
    cfg.mqtt_url = broker.url();
    EXPECT_EQ(cfg.mqtt_qos, 0) << "ChirpStack's MQTT integration publishes at QoS 0 unless qos = 1 is set";
    cfg.mqtt_qos = 1; // as the set-up guide says to configure it
    sim::simulator s(io.get_executor(), cfg);
    sim::device_config d;
    d.dev_eui = "0101010101010101";
    s.add_device(d);
    ASSERT_TRUE(s.trigger_uplink("0101010101010101"));

    mqtt::const_message_ptr msg;
    ASSERT_TRUE(sub.try_consume_message_for(&msg, std::chrono::seconds(5))) << "no message from the broker";
    auto topic = cs::parse_topic(msg->get_topic());
    ASSERT_TRUE(topic) << msg->get_topic();
    EXPECT_EQ(topic->dev_eui, "0101010101010101");
    EXPECT_EQ(topic->event_type, "up");
    EXPECT_NE(msg->get_payload_str().find("+00:00"), std::string::npos);
    auto e = cs::parse_event(topic->event_type, msg->get_payload_str());
    ASSERT_TRUE(e) << e.error().message;
    EXPECT_EQ(msg->get_qos(), 1);
    EXPECT_EQ(s.events_published_mqtt(), 1u);
    sub.disconnect()->wait();
}

TEST(SimulatorMqtt, ABadBrokerUrlIsRefused) {
    boost::asio::io_context io;
    sim::simulator_config cfg;
    cfg.mqtt_url = "broker.example:1883";
    try {
        sim::simulator s(io.get_executor(), cfg);
        ADD_FAILURE() << "accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("must start with tcp://"), std::string::npos);
    }
}
